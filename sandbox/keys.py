"""The worker's HPKE key on disk: created at provisioning, readable only by the worker user.

The private key is 32 raw bytes in a file of mode 0600 owned by the worker user; the public key
sits beside it as ``<name>.pub`` (0644) for the supervisor to announce. The supervisor never
opens the private key; the worker reads it after dropping to its user and before its seccomp
filter is installed.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sandbox.hpke import KEY_BYTES, generate_keypair, public_key_of


class KeyFileError(Exception):
    """A key file is missing, malformed, or readable by more than the worker user."""


def public_path(private_path: Path) -> Path:
    """Where the public key of `private_path` is kept."""
    return private_path.with_name(private_path.name + ".pub")


def provision_worker_key(path: Path, uid: int, gid: int, *, replace: bool = False) -> bytes:
    """Create the worker key at `path` (0600, owned by uid:gid) unless it exists; returns the
    public key. With `replace`, a new key replaces the old one (clients must learn it again).

    Raises:
        KeyFileError: an existing key is malformed or has loose permissions.
        OSError: the directory cannot be written.
    """
    if path.exists() and not replace:
        check_private_key_file(path, uid)
        public = public_key_of(path.read_bytes())
        public_path(path).write_bytes(public)
        return public
    path.parent.mkdir(parents=True, exist_ok=True)
    pair = generate_keypair()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        os.fchown(fd, uid, gid)
        os.fchmod(fd, 0o600)
        os.write(fd, pair.private)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    pub = public_path(path)
    pub.write_bytes(pair.public)
    pub.chmod(0o644)
    return pair.public


def check_private_key_file(path: Path, uid: int) -> None:
    """Refuse a private key that is not a regular 0600 file owned by `uid`.

    Raises:
        KeyFileError: naming the file and the problem.
    """
    try:
        st = path.stat()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the worker key: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise KeyFileError(f"{path}: the worker key is not a regular file")
    if st.st_mode & 0o077:
        raise KeyFileError(f"{path}: the worker key has mode {st.st_mode & 0o777:o}, must be 600")
    if st.st_uid != uid:
        raise KeyFileError(f"{path}: the worker key is owned by uid {st.st_uid}, not {uid}")
    if st.st_size != KEY_BYTES:
        raise KeyFileError(f"{path}: the worker key is {st.st_size} bytes, not {KEY_BYTES}")


def read_private_key(path: Path) -> bytes:
    """Read the worker key as the worker user (checks owner and mode first).

    Raises:
        KeyFileError: see `check_private_key_file`.
    """
    check_private_key_file(path, os.geteuid())
    return path.read_bytes()


def read_public_key(path: Path) -> bytes:
    """Read the public key beside the private key at `path`.

    Raises:
        KeyFileError: missing or not 32 bytes.
    """
    pub = public_path(path)
    try:
        data = pub.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{pub}: cannot read the worker public key: {exc.strerror}") from None
    if len(data) != KEY_BYTES:
        raise KeyFileError(f"{pub}: the worker public key is {len(data)} bytes, not {KEY_BYTES}")
    return data
