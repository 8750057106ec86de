"""Key files: raw 32-byte Ed25519 (signing) and X25519 (sealing) keys, created on first use.

Private keys are stored as the 32 raw bytes, mode 0600; public keys are passed around as raw
bytes and written in hex where people read them (config, ``docs/protocol.md``).
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from .errors import UplinkError


class KeyFileError(UplinkError):
    """A key file is missing, unreadable or not 32 raw bytes."""


def load_or_create_signing_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 key in `path`, generated and written (0600) when the file does not exist."""
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        _write_private(path, key.private_bytes_raw())
        return key
    return Ed25519PrivateKey.from_private_bytes(_read32(path))


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in `path`; raises `KeyFileError`."""
    return Ed25519PrivateKey.from_private_bytes(_read32(path))


def load_or_create_sealing_key(path: Path) -> X25519PrivateKey:
    """The X25519 key in `path` (a worker's or a client's HPKE key), created when missing."""
    if not path.exists():
        key = X25519PrivateKey.generate()
        _write_private(path, key.private_bytes_raw())
        return key
    return X25519PrivateKey.from_private_bytes(_read32(path))


def public_hex(key: Ed25519PrivateKey) -> str:
    """The public half of `key` as 64 hex digits."""
    return key.public_key().public_bytes_raw().hex()


def parse_public_key(text: str, what: str) -> bytes:
    """Raw bytes of a hex-written Ed25519 public key; raises `KeyFileError` naming `what`."""
    try:
        raw = bytes.fromhex(text.strip())
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise KeyFileError(f"{what}: {text!r} is not 64 hex digits of an Ed25519 key") from None
    return raw


def read_public_file(path: Path) -> bytes:
    """A public key written as hex in a text file (``<name>.pub``)."""
    try:
        return parse_public_key(path.read_text(), str(path))
    except OSError as exc:
        raise KeyFileError(f"cannot read public key {path}: {exc}") from None


def _read32(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc}") from None
    if len(raw) != 32:
        raise KeyFileError(f"key file {path} has {len(raw)} bytes; a raw key has 32")
    return raw


def _write_private(path: Path, raw: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(raw)
