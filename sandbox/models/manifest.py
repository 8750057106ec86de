"""Signed model manifests: which files make a model, pinned by SHA-256, signed with Ed25519.

A model lives in ``<models_dir>/<name>/`` beside its ``manifest.json``::

    {"manifest": {"format": 1, "name": ..., "family": "encoder" | "decoder",
                  "config": {...}, "files": [{"path", "sha256", "size", "role"}, ...]},
     "signature": "<base64 Ed25519 signature of the canonical JSON of 'manifest'>"}

The canonical form is ``json.dumps(manifest, sort_keys=True, separators=(",", ":"))`` in UTF-8.
The operator signs manifests offline; a car pins the operator's public key and refuses any
manifest whose signature, name, file sizes or digests do not match. Weights are safetensors only
(no pickle can reach ``torch``): a weight file must be named ``*.safetensors`` and its header
must parse. `read_verified_file` returns the bytes it hashed and `map_verified_file` the one
memory mapping it hashed, so what is loaded is what was verified (no window to swap the file
between the check and the load, and no second copy of a large weights file in memory).

This module imports no torch: the supervisor can verify and list models without it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import mmap
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Final, Literal

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sandbox.models.errors import ManifestError
from sandbox.models.tensorfile import check_safetensors

MANIFEST_NAME: Final = "manifest.json"
FORMAT_VERSION: Final = 1
FAMILIES: Final = ("encoder", "decoder")
# What a pinned file is for; each role admits only the suffixes listed (no .bin, .pt, .pkl).
ROLE_SUFFIXES: Final[Mapping[str, tuple[str, ...]]] = {
    "weights": (".safetensors",),
    "tokenizer": (".json",),
    # Kept beside the weights by `parkmesh model import`, pinned like them: the checkpoint's
    # own config, its shard index, the tokenizer's settings (chat template, special tokens)
    # and the generation defaults. Data only: nothing in them is ever executed.
    "config": (".json",),
    "index": (".json",),
    "tokenizer_config": (".json",),
    "generation_config": (".json",),
    "encoder_config": (".json",),
}

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

    For small files (tokenizer, configs); weights go through `map_verified_file`.

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
    _check_pinned(data, manifest, entry, path)
    return data


def map_verified_file(model_dir: Path, manifest: Manifest, entry: FileEntry) -> mmap.mmap:
    """Map one pinned file into memory and return the mapping once size and SHA-256 match.

    The digest is computed over the mapping itself, and the caller loads tensors as views of
    the same mapping: the bytes hashed are the bytes loaded, and a 10 GB shard costs page
    cache (file-backed, reclaimable) rather than 10 GB of private memory. The file is opened
    once, so renaming another file over it afterwards changes nothing. The mapping is
    copy-on-write (``ACCESS_COPY``): tensors over it are writable as torch expects, and a
    write would never reach the file.

    Raises:
        ManifestError: as `read_verified_file`.
    """
    path = model_dir / entry.path
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ManifestError(f"model {manifest.name!r}: missing file {path}") from None
    except OSError as exc:
        raise ManifestError(f"model {manifest.name!r}: cannot read {path}: {exc}") from None
    try:
        size = os.fstat(fd).st_size
        if size != entry.size or size == 0:
            raise ManifestError(
                f"model {manifest.name!r}: {path} has {size} bytes, manifest pins {entry.size} "
                "(tampered or truncated)"
            )
        try:
            mapping = mmap.mmap(fd, size, access=mmap.ACCESS_COPY)
        except OSError as exc:
            raise ManifestError(f"model {manifest.name!r}: cannot map {path}: {exc}") from None
    finally:
        os.close(fd)
    _check_pinned(mapping, manifest, entry, path)
    return mapping


def _check_pinned(
    data: bytes | mmap.mmap, manifest: Manifest, entry: FileEntry, path: Path
) -> None:
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


def verify_files(model_dir: Path, manifest: Manifest) -> None:
    """Check every pinned file (size, digest, format) without keeping the bytes.

    Weights are hashed through a mapping, one file at a time, so a large model needs no more
    memory than the page cache lends.
    """
    for entry in manifest.files:
        if entry.role == "weights" and entry.size > 0:
            map_verified_file(model_dir, manifest, entry).close()
        else:
            read_verified_file(model_dir, manifest, entry)


def _public_key(raw: bytes) -> Ed25519PublicKey:
    if not isinstance(raw, bytes) or len(raw) != 32:
        raise ManifestError("operator public key must be 32 raw bytes (Ed25519)")
    return Ed25519PublicKey.from_public_bytes(raw)


class _EntryShape(msgspec.Struct, frozen=True):
    """A file entry as the signed document declares it; the role is checked against
    `ROLE_SUFFIXES` and the path by `_check_relpath` once the types hold."""

    path: str
    role: str
    sha256: Annotated[str, msgspec.Meta(pattern=r"\A[0-9a-f]{64}\Z")]
    size: Annotated[int, msgspec.Meta(ge=0)]


class _BodyShape(msgspec.Struct, frozen=True):
    """The signed ``manifest`` object; unknown keys are allowed (and signed like the rest)."""

    format: Literal[1]
    name: Annotated[str, msgspec.Meta(min_length=1)]
    family: Family
    config: dict[str, Any]
    files: Annotated[list[_EntryShape], msgspec.Meta(min_length=1)]


_PART = re.compile(r"\.([^.\[`]+)|\[(\d+)\]")
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]+)`")


def _parse_body(body: Mapping[str, Any], label: str) -> Manifest:
    """The verified ``manifest`` object as a `Manifest`; raises `ManifestError` naming the key."""
    if body.get("format") != FORMAT_VERSION:  # first: another format may differ in any key
        raise _refused(("format",), body, label)
    try:
        shape = msgspec.convert(body, _BodyShape, strict=True)
    except msgspec.ValidationError as exc:
        raise _refused(_path(str(exc)), body, label) from None
    entries = tuple(_entry(e, label) for e in shape.files)
    if not any(e.role == "weights" for e in entries):
        raise ManifestError(f"model {label!r}: manifest lists no weights file")
    return Manifest(shape.name, shape.family, shape.config, entries)


def _entry(shape: _EntryShape, label: str) -> FileEntry:
    path, role = shape.path, shape.role
    _check_relpath(path, label)
    if role not in ROLE_SUFFIXES:
        raise ManifestError(
            f"model {label!r}: file {path!r} has role {role!r}, expected one of "
            f"{sorted(ROLE_SUFFIXES)}"
        )
    if not path.endswith(ROLE_SUFFIXES[role]):
        raise ManifestError(
            f"model {label!r}: {role} file {path!r} must end with {ROLE_SUFFIXES[role]} "
            "(weights are safetensors only)"
        )
    return FileEntry(path, shape.sha256, shape.size, role)


def _path(text: str) -> tuple[str | int, ...]:
    """The keys down to the value msgspec refused (``... - at `$.files[0].size```).

    The path is always last in `text` (a quoted value, ``Invalid enum value ...``, precedes
    it), and a missing key is named in the sentence, not in the path.
    """
    what, _, at = text.rpartition(" - at `$")
    path: list[str | int] = [name or int(index) for name, index in _PART.findall(at)]
    missing = _MISSING.match(what or text)
    return (*path, missing["name"]) if missing else tuple(path)


def _refused(path: tuple[str | int, ...], body: Mapping[str, Any], label: str) -> ManifestError:
    """The `ManifestError` for the value at `path` of `body`, in the words of each key."""
    if path[:1] != ("files",) or len(path) < 2:
        problem = {
            "format": f"manifest format {body.get('format')!r} is not supported"
            f" (expected {FORMAT_VERSION})",
            "name": "manifest has no model name",
            "family": f"manifest family {body.get('family')!r} is not one of {FAMILIES}",
            "config": "manifest config must be an object",
        }.get(str(path[0]) if path else "", "manifest lists no files")
        return ManifestError(f"model {label!r}: {problem}")
    raw = body["files"][path[1]]
    if len(path) == 2:
        return ManifestError(f"model {label!r}: manifest file entry {raw!r} is not an object")
    file = raw.get("path")
    problem = {
        "path": f"manifest file entry without a path: {raw!r}",
        "role": f"file {file!r} has role {raw.get('role')!r}, expected one of "
        f"{sorted(ROLE_SUFFIXES)}",
        "sha256": f"file {file!r} has no valid sha256 digest",
    }.get(str(path[2]), f"file {file!r} has no valid size")
    return ManifestError(f"model {label!r}: {problem}")


def _check_relpath(path: str, label: str) -> None:
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts or not p.parts or "\\" in path:
        raise ManifestError(f"model {label!r}: file path {path!r} must stay inside the model dir")


def files_with_role(manifest: Manifest, role: str) -> Sequence[FileEntry]:
    """All files of `role`, in manifest order."""
    return [f for f in manifest.files if f.role == role]
