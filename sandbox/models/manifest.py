"""Signed model manifests: which files make a model, pinned by SHA-256, signed with Ed25519.

A model lives in ``<models_dir>/<name>/`` beside its ``manifest.json``::

    {"manifest": {"format": 1, "name": ..., "family": "encoder" | "decoder",
                  "config": {...}, "files": [{"path", "sha256", "size", "role"}, ...]},
     "signature": "<base64 Ed25519 signature of the canonical JSON of 'manifest'>"}

The canonical form is ``json.dumps(manifest, sort_keys=True, separators=(",", ":"))`` in UTF-8.
The operator signs manifests offline; a car pins the operator's public key and refuses any
manifest whose signature, name, file sizes or digests do not match. Weights are safetensors only
(no pickle can reach ``torch``): a weight file must be named ``*.safetensors`` and its header
must parse. `read_verified_file` returns the bytes it hashed, so what is loaded is what was
verified (no window to swap the file between the check and the load).

This module imports no torch: the supervisor can verify and list models without it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sandbox.models.errors import ManifestError

MANIFEST_NAME: Final = "manifest.json"
FORMAT_VERSION: Final = 1
FAMILIES: Final = ("encoder", "decoder")
# What a pinned file is for; each role admits only the suffixes listed (no .bin, .pt, .pkl).
ROLE_SUFFIXES: Final[Mapping[str, tuple[str, ...]]] = {
    "weights": (".safetensors",),
    "tokenizer": (".json",),
}
# A safetensors header is JSON of at most this many bytes (the reference reader's limit).
_MAX_HEADER_BYTES: Final = 100 * 1024 * 1024

Family = Literal["encoder", "decoder"]


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file a model needs, relative to the model's directory."""

    path: str
    sha256: str
    size: int
    role: str

    def to_json(self) -> dict[str, Any]:
        """The entry as it appears in the manifest."""
        return {"path": self.path, "sha256": self.sha256, "size": self.size, "role": self.role}


@dataclass(frozen=True, slots=True)
class Manifest:
    """A verified (or about to be signed) description of one model."""

    name: str
    family: Family
    config: Mapping[str, Any]
    files: tuple[FileEntry, ...]

    def to_json(self) -> dict[str, Any]:
        """The body that is signed."""
        return {
            "format": FORMAT_VERSION,
            "name": self.name,
            "family": self.family,
            "config": dict(self.config),
            "files": [f.to_json() for f in self.files],
        }

    def file(self, role: str) -> FileEntry:
        """The first file of `role`; raises `ManifestError` when the manifest has none."""
        for entry in self.files:
            if entry.role == role:
                return entry
        raise ManifestError(f"model {self.name!r}: manifest lists no {role} file")


def canonical_bytes(body: Mapping[str, Any]) -> bytes:
    """The exact bytes that are signed and verified."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def describe_file(model_dir: Path, relpath: str, role: str) -> FileEntry:
    """Hash and size a file of a model that is being provisioned."""
    _check_relpath(relpath, model_dir.name)
    path = model_dir / relpath
    return FileEntry(relpath, sha256_file(path), path.stat().st_size, role)


def sign_manifest(manifest: Manifest, private_key: Ed25519PrivateKey) -> bytes:
    """Sign `manifest` and return the ``manifest.json`` document (UTF-8 JSON)."""
    body = manifest.to_json()
    signature = private_key.sign(canonical_bytes(body))
    doc = {"manifest": body, "signature": base64.b64encode(signature).decode()}
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def write_manifest(model_dir: Path, manifest: Manifest, private_key: Ed25519PrivateKey) -> Path:
    """Sign `manifest` and write it as ``model_dir/manifest.json``; returns its path."""
    path = model_dir / MANIFEST_NAME
    path.write_bytes(sign_manifest(manifest, private_key))
    return path


def load_manifest(model_dir: Path, operator_public_key: bytes) -> Manifest:
    """Read and verify the signature of ``model_dir/manifest.json``; files are not checked here.

    Args:
        model_dir: the model's directory; its name must equal the manifest's model name, so a
            validly signed manifest of one model cannot stand in for another.
        operator_public_key: the pinned raw 32-byte Ed25519 public key of the operator.

    Raises:
        ManifestError: missing or malformed manifest, bad signature, wrong name, bad fields.
    """
    label = model_dir.name
    public_key = _public_key(operator_public_key)
    path = model_dir / MANIFEST_NAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ManifestError(f"model {label!r}: no manifest at {path}") from None
    try:
        doc = json.loads(raw)
        body = doc["manifest"]
        signature = base64.b64decode(doc["signature"], validate=True)
    except (ValueError, KeyError, TypeError) as exc:
        raise ManifestError(f"model {label!r}: {path} is not a manifest document: {exc}") from None
    if not isinstance(body, dict):
        raise ManifestError(f"model {label!r}: {path}: 'manifest' must be an object")
    try:
        public_key.verify(signature, canonical_bytes(body))
    except InvalidSignature:
        raise ManifestError(
            f"model {label!r}: bad manifest signature in {path} "
            "(not signed by the pinned operator key, or edited after signing)"
        ) from None
    manifest = _parse_body(body, label)
    if manifest.name != label:
        raise ManifestError(
            f"model {label!r}: manifest in {path} is signed for model {manifest.name!r}"
        )
    return manifest


def read_verified_file(model_dir: Path, manifest: Manifest, entry: FileEntry) -> bytes:
    """Read one pinned file whole and return its bytes once size and SHA-256 match.

    Raises:
        ManifestError: the file is missing, unreadable, of the wrong size or digest, or (for
            weights) not a well-formed safetensors file.
    """
    path = model_dir / entry.path
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ManifestError(f"model {manifest.name!r}: missing file {path}") from None
    except OSError as exc:
        raise ManifestError(f"model {manifest.name!r}: cannot read {path}: {exc}") from None
    if len(data) != entry.size:
        raise ManifestError(
            f"model {manifest.name!r}: {path} has {len(data)} bytes, manifest pins {entry.size} "
            "(tampered or truncated)"
        )
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry.sha256:
        raise ManifestError(
            f"model {manifest.name!r}: SHA-256 of {path} is {digest}, manifest pins "
            f"{entry.sha256} (tampered or replaced)"
        )
    if entry.role == "weights":
        check_safetensors(data, f"model {manifest.name!r}: {path}")
    return data


def verify_files(model_dir: Path, manifest: Manifest) -> None:
    """Check every pinned file (size, digest, format) without keeping the bytes."""
    for entry in manifest.files:
        read_verified_file(model_dir, manifest, entry)


def check_safetensors(data: bytes, label: str) -> None:
    """Raise `ManifestError` unless `data` has a valid safetensors header covering the file.

    Header: u64 little-endian length N, then N bytes of JSON mapping tensor names to
    ``{"dtype", "shape", "data_offsets": [begin, end]}`` (plus optional ``__metadata__``).
    """
    if len(data) < 8:
        raise ManifestError(f"{label} is not a safetensors file (shorter than its header)")
    (n,) = struct.unpack_from("<Q", data)
    if n > _MAX_HEADER_BYTES or 8 + n > len(data):
        raise ManifestError(f"{label} is not a safetensors file (header length {n} is invalid)")
    try:
        header = json.loads(data[8 : 8 + n])
    except (UnicodeDecodeError, ValueError):
        raise ManifestError(f"{label} is not a safetensors file (header is not JSON)") from None
    if not isinstance(header, dict):
        raise ManifestError(f"{label} is not a safetensors file (header is not an object)")
    body = len(data) - 8 - n
    for key, info in header.items():
        if key == "__metadata__":
            continue
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= body
        ):
            raise ManifestError(f"{label}: tensor {key!r} has invalid data offsets {offsets!r}")


def _public_key(raw: bytes) -> Ed25519PublicKey:
    if not isinstance(raw, bytes) or len(raw) != 32:
        raise ManifestError("operator public key must be 32 raw bytes (Ed25519)")
    return Ed25519PublicKey.from_public_bytes(raw)


def _parse_body(body: Mapping[str, Any], label: str) -> Manifest:
    def bad(what: str) -> ManifestError:
        return ManifestError(f"model {label!r}: manifest {what}")

    if body.get("format") != FORMAT_VERSION:
        raise bad(f"format {body.get('format')!r} is not supported (expected {FORMAT_VERSION})")
    name, family, config = body.get("name"), body.get("family"), body.get("config")
    if not isinstance(name, str) or not name:
        raise bad("has no model name")
    if family not in FAMILIES:
        raise bad(f"family {family!r} is not one of {FAMILIES}")
    if not isinstance(config, dict):
        raise bad("config must be an object")
    files = body.get("files")
    if not isinstance(files, list) or not files:
        raise bad("lists no files")
    entries = tuple(_parse_entry(f, label) for f in files)
    if not any(e.role == "weights" for e in entries):
        raise bad("lists no weights file")
    return Manifest(name, family, config, entries)


def _parse_entry(raw: object, label: str) -> FileEntry:
    if not isinstance(raw, dict):
        raise ManifestError(f"model {label!r}: manifest file entry {raw!r} is not an object")
    path, digest, size, role = (raw.get(k) for k in ("path", "sha256", "size", "role"))
    if not isinstance(path, str):
        raise ManifestError(f"model {label!r}: manifest file entry without a path: {raw!r}")
    _check_relpath(path, label)
    if not isinstance(role, str) or role not in ROLE_SUFFIXES:
        raise ManifestError(
            f"model {label!r}: file {path!r} has role {role!r}, expected one of "
            f"{sorted(ROLE_SUFFIXES)}"
        )
    if not path.endswith(ROLE_SUFFIXES[role]):
        raise ManifestError(
            f"model {label!r}: {role} file {path!r} must end with {ROLE_SUFFIXES[role]} "
            "(weights are safetensors only)"
        )
    if not isinstance(digest, str) or len(digest) != 64 or not _is_hex(digest):
        raise ManifestError(f"model {label!r}: file {path!r} has no valid sha256 digest")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestError(f"model {label!r}: file {path!r} has no valid size")
    return FileEntry(path, digest, size, role)


def _check_relpath(path: str, label: str) -> None:
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts or not p.parts or "\\" in path:
        raise ManifestError(f"model {label!r}: file path {path!r} must stay inside the model dir")


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def files_with_role(manifest: Manifest, role: str) -> Sequence[FileEntry]:
    """All files of `role`, in manifest order."""
    return [f for f in manifest.files if f.role == role]
