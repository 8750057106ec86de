"""``parkmesh model import|list|verify`` through its own parser (registered as the CLI does)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from supervisor.cli import model as model_cli

from . import hf_checkpoints


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="parkmesh")
    model_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    status: int = args.func(args)
    return status


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hf_checkpoints.build(tmp_path_factory.mktemp("cli") / "qwen", "qwen2")


def test_import_list_verify_and_a_tampered_file(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = str(tmp_path / "models")
    assert (
        _run("model", "import", str(checkpoint), "--name", "qwen", "--models-dir", models, "--json")
        == 0
    )
    imported = json.loads(capsys.readouterr().out)
    assert imported["model"] == "qwen" and imported["dtype"] == "float32"
    assert {f["role"] for f in imported["files"]} >= {"weights", "tokenizer", "config"}

    assert _run("model", "list", "--models-dir", models, "--json") == 0
    (row,) = json.loads(capsys.readouterr().out)["models"]
    assert (row["model"], row["signature"], row["family"]) == ("qwen", "ok", "decoder")

    assert _run("model", "verify", "qwen", "--models-dir", models) == 0
    assert "ok" in capsys.readouterr().out
    tokenizer = tmp_path / "models" / "qwen" / "tokenizer.json"
    data = bytearray(tokenizer.read_bytes())
    data[len(data) // 2] ^= 0x01  # same size, one byte changed
    tokenizer.write_bytes(bytes(data))
    assert _run("model", "verify", "qwen", "--models-dir", models) == 1
    assert "SHA-256 of" in (err := capsys.readouterr().err) and "tokenizer.json" in err
    assert _run("model", "verify", "absent", "--models-dir", models) == 2


def test_import_with_an_operator_key_and_a_refusal(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = Ed25519PrivateKey.generate()
    pem = tmp_path / "operator.key"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = tmp_path / "operator.pub"
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    public.write_text(raw.hex())
    models = str(tmp_path / "models")
    assert (
        _run(
            "model",
            "import",
            str(checkpoint),
            "--name",
            "q16",
            "--models-dir",
            models,
            "--sign-key",
            str(pem),
            "--dtype",
            "fp16",
        )
        == 0
    )
    assert raw.hex() in capsys.readouterr().out
    assert (
        _run("model", "verify", "q16", "--models-dir", models, "--operator-key", str(public)) == 0
    )
    capsys.readouterr()
    assert _run("model", "import", str(tmp_path), "--name", "nope", "--models-dir", models) == 1
    err = capsys.readouterr().err
    assert "import refused, nothing installed" in err and "config.json" in err
    assert not (tmp_path / "models" / "nope").exists()
