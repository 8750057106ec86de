"""The worker key on disk: 0600, owned by the worker user, refused otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sandbox.hpke import public_key_of
from sandbox.keys import (
    KeyFileError,
    check_private_key_file,
    provision_worker_key,
    read_private_key,
    read_public_key,
)


def test_provisioned_key_is_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "k" / "worker.key"
    public = provision_worker_key(path, os.getuid(), os.getgid())
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_public_key(path) == public == public_key_of(read_private_key(path))
    assert provision_worker_key(path, os.getuid(), os.getgid()) == public  # kept
    assert provision_worker_key(path, os.getuid(), os.getgid(), replace=True) != public


def test_loose_mode_wrong_owner_and_size_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "worker.key"
    provision_worker_key(path, os.getuid(), os.getgid())
    path.chmod(0o640)
    with pytest.raises(KeyFileError, match="mode 640"):
        read_private_key(path)
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match="owned by uid"):
        check_private_key_file(path, os.getuid() + 1)
    path.write_bytes(b"x" * 5)
    with pytest.raises(KeyFileError, match="5 bytes"):
        read_private_key(path)
    with pytest.raises(KeyFileError, match="cannot read"):
        read_private_key(tmp_path / "missing.key")
