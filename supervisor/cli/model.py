"""``parkmesh model import|list|verify``: bring a Hugging Face checkpoint onto a car, signed.

- ``import DIR --name NAME [--sign-key KEY] [--dtype bf16|fp16|fp32] [--max-seq-len N]``
  checks the checkpoint, copies it into the models directory under a manifest signed by the
  operator's key (the development key of the models directory when no ``--sign-key``) that
  pins every file by SHA-256, and installs nothing on any refusal;
- ``list`` shows the models, their family, size and whether the signature holds;
- ``verify NAME`` re-hashes every file against the signed manifest and names the first that
  differs.

The models directory is ``--models-dir``, else ``[sandbox] models_dir`` of ``--config`` (or of
``/etc/parkmesh/parkmesh.toml`` when it exists), else the development node's. Manifests are
checked against ``--operator-key`` (hex public key file), else the configured
``[sandbox] operator_key``, else the development key ``operator-dev.pub`` in the models
directory.

Exit status: 0 done; 1 refused (a checkpoint that cannot be imported, a model that does not
verify); 2 bad input (unreadable key, no such model).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from supervisor.cli.output import print_json, print_table

if TYPE_CHECKING:
    from sandbox.config import SandboxConfig


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``model import``, ``model list`` and ``model verify``."""
    model = sub.add_parser("model", help="models on this car: import a checkpoint, list, verify")
    actions = model.add_subparsers(dest="model_command", metavar="ACTION", required=True)

    imp = actions.add_parser("import", help="import a Hugging Face checkpoint, signed")
    imp.add_argument("source", type=Path, metavar="DIR", help="the checkpoint directory")
    imp.add_argument("--name", required=True, help="the model's name on the car")
    imp.add_argument(
        "--sign-key",
        type=Path,
        default=None,
        help="operator's Ed25519 private key, PEM (default: the development key)",
    )
    imp.add_argument(
        "--dtype",
        choices=("bf16", "fp16", "fp32"),
        default=None,
        help="store the weights in this dtype, the one CUDA runs (default: the checkpoint's)",
    )
    imp.add_argument(
        "--max-seq-len",
        type=int,
        default=None,
        help="most positions per job (default: the checkpoint's max_position_embeddings)",
    )
    _common(imp)
    imp.set_defaults(func=_import)

    listing = actions.add_parser("list", help="the models, with family, size and signature")
    _common(listing, operator_key=True)
    listing.set_defaults(func=_list)

    verify = actions.add_parser("verify", help="re-hash every file of a model against its manifest")
    verify.add_argument("name", help="the model's name")
    _common(verify, operator_key=True)
    verify.set_defaults(func=_verify)


def _common(parser: argparse.ArgumentParser, *, operator_key: bool = False) -> None:
    parser.add_argument("--models-dir", type=Path, default=None, help="the models directory")
    parser.add_argument("--config", type=Path, default=None, help="configuration file")
    if operator_key:
        parser.add_argument(
            "--operator-key", type=Path, default=None, help="operator public key file (hex)"
        )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def sandbox_settings(args: argparse.Namespace) -> SandboxConfig:
    """The ``[sandbox]`` settings these commands use, with the command line's overrides.

    Raises:
        ConfigError: the configuration file is invalid.
    """
    from supervisor.cli.sandbox_config import dev_config
    from supervisor.config.load import config_file, load_config

    path = config_file(args.config)
    config = dev_config() if path is None else load_config(path).sandbox
    if args.models_dir is not None:
        config = dataclasses.replace(config, models_dir=args.models_dir)
    if getattr(args, "operator_key", None) is not None:
        config = dataclasses.replace(config, operator_key=args.operator_key)
    return config


def _import(args: argparse.Namespace) -> int:
    from sandbox.models.errors import ModelError
    from sandbox.models.importer import DTYPE_FLAGS, import_checkpoint, load_signing_key

    models_dir = sandbox_settings(args).models_dir
    try:
        key = None if args.sign_key is None else load_signing_key(args.sign_key)
    except ModelError as exc:
        return _fail(str(exc), 2)
    try:
        done = import_checkpoint(
            args.source,
            models_dir,
            args.name,
            sign_key=key,
            dtype=None if args.dtype is None else DTYPE_FLAGS[args.dtype],
            max_seq_len=args.max_seq_len,
        )
    except (ModelError, OSError) as exc:
        return _fail(f"import refused, nothing installed: {exc}", 1)
    manifest = done.manifest
    result = {
        "model": manifest.name,
        "model_dir": str(done.model_dir),
        "family": manifest.family,
        "dtype": manifest.config.get("dtype"),
        "max_seq_len": manifest.config.get("max_seq_len"),
        "files": [f.to_json() for f in manifest.files],
        "operator_public_key": done.operator_public_key.hex(),
    }
    if args.json:
        print_json(result)
    else:
        print_table({k: v for k, v in result.items() if k != "files"})
        for entry in manifest.files:
            print(f"  {entry.sha256}  {entry.size:>12}  {entry.role:<17}  {entry.path}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from sandbox.models.errors import ModelError
    from sandbox.models.manifest import load_manifest
    from sandbox.models.registry import list_models

    config = sandbox_settings(args)
    key = _operator_key(config)
    if key is None:
        return 2
    rows = []
    for name in list_models(config.models_dir):
        row: dict[str, Any] = {"model": name}
        try:
            manifest = load_manifest(config.models_dir / name, key)
        except ModelError as exc:
            row.update(signature="bad", error=str(exc))
        else:
            row.update(
                signature="ok",
                family=manifest.family,
                files=len(manifest.files),
                bytes=sum(f.size for f in manifest.files),
            )
        rows.append(row)
    if args.json:
        print_json({"models_dir": str(config.models_dir), "models": rows})
        return 0
    print(f"{config.models_dir}:")
    for row in rows:
        detail = row.get("error") or f"{row['family']}, {row['files']} files, {row['bytes']} bytes"
        print(f"  {row['model']:<32} signature {row['signature']:<3}  {detail}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from sandbox.models.errors import ModelError, UnknownModelError
    from sandbox.models.registry import verify_model

    config = sandbox_settings(args)
    key = _operator_key(config)
    if key is None:
        return 2
    try:
        manifest = verify_model(args.name, config.models_dir, key)
    except UnknownModelError as exc:
        return _fail(str(exc), 2)
    except ModelError as exc:
        if args.json:
            print_json({"model": args.name, "ok": False, "error": str(exc)})
        return _fail(f"verify failed: {exc}", 1)
    result = {
        "model": manifest.name,
        "ok": True,
        "files": len(manifest.files),
        "bytes": sum(f.size for f in manifest.files),
    }
    if args.json:
        print_json(result)
    else:
        print_table(result)
    return 0


def _operator_key(config: SandboxConfig) -> bytes | None:
    from sandbox.node import NodeSetupError, read_operator_key

    try:
        return read_operator_key(config)
    except NodeSetupError as exc:
        _fail(str(exc), 2)
        return None


def _fail(message: str, status: int) -> int:
    print(f"parkmesh: {message}", file=sys.stderr)
    return status
