"""Preparing the node for workers: the worker user, scratch directories, keys and the device.

`prepare` is what the pool does at start-up (as root: resolve the user, create and chown the
scratch directory, read the public keys); `provision` is the one-time set-up a technician or
the package runs (`parkmesh sandbox provision`): it also creates the worker user if missing,
the worker's HPKE key and, for development, the signed models.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sandbox.config import SandboxConfig
from sandbox.keys import KeyFileError, provision_worker_key, read_public_key

DEV_OPERATOR_KEY = "operator-dev.pub"


class NodeSetupError(ValueError):
    """The node is not ready for workers; the message names the key and says what to fix.

    The application reports it like a configuration problem, placed at `key` in its file
    (``parkmesh: /etc/parkmesh/parkmesh.toml:9: [sandbox] sandbox.worker_user: ...``).

    Attributes:
        key: the dotted configuration key at fault (``sandbox.worker_key``), or None.
        detail: the problem alone, without the key.
    """

    def __init__(self, message: str, *, key: str | None = None) -> None:
        self.key = key
        self.detail = message
        super().__init__(f"{key}: {message}" if key else message)


@dataclass(frozen=True, slots=True)
class NodeFacts:
    """What the pool needs to start workers."""

    uid: int | None
    gid: int | None
    device: str
    operator_public_key: bytes
    worker_public_key: bytes


def resolve_user(name: str) -> tuple[int, int]:
    """uid and gid of `name` (a user name or a numeric uid, whose gid is then the same).

    Raises:
        NodeSetupError: no such user.
    """
    if name.isdigit():
        return int(name), int(name)
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise NodeSetupError(
            f"user {name!r} does not exist; create it with `parkmesh sandbox provision` "
            f"or set a numeric uid",
            key="sandbox.worker_user",
        ) from None
    if entry.pw_uid == 0:
        raise NodeSetupError(
            f"{name!r} is root; workers must not run as root", key="sandbox.worker_user"
        )
    return entry.pw_uid, entry.pw_gid


def resolve_device(setting: str) -> str:
    """'cpu' or 'cuda' for the configured device; 'auto' looks for an NVIDIA GPU without torch."""
    if setting != "auto":
        return setting
    if not os.path.exists("/dev/nvidiactl"):
        return "cpu"
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            return "cuda" if pynvml.nvmlDeviceGetCount() > 0 else "cpu"
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # no driver library, or NVML refuses: no usable GPU
        return "cpu"


def read_operator_key(config: SandboxConfig) -> bytes:
    """The pinned operator key: 64 hex digits (or 32 raw bytes) in the configured file.

    Raises:
        NodeSetupError: missing or malformed.
    """
    path = config.operator_key or config.models_dir / DEV_OPERATOR_KEY
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise NodeSetupError(
            f"{path}: cannot read the operator key: {exc.strerror}", key="sandbox.operator_key"
        ) from None
    if len(data) == 32:
        return data
    try:
        raw = bytes.fromhex(data.decode().strip())
    except (UnicodeDecodeError, ValueError):
        raise NodeSetupError(
            f"{path}: the operator key must be 64 hex digits", key="sandbox.operator_key"
        ) from None
    if len(raw) != 32:
        raise NodeSetupError(
            f"{path}: the operator key must be 32 bytes, not {len(raw)}", key="sandbox.operator_key"
        )
    return raw


def scratch_dir(config: SandboxConfig, model: str, uid: int | None, gid: int | None) -> Path:
    """Create the scratch directory of `model`'s worker (0700, owned by the worker user)."""
    path = config.scratch_dir / model
    path.mkdir(parents=True, exist_ok=True)
    if uid is not None and gid is not None:
        os.chown(path, uid, gid)
    path.chmod(0o700)
    return path


def prepare(config: SandboxConfig) -> NodeFacts:
    """Check the node and gather the facts the pool needs (no user or key is created here).

    Raises:
        NodeSetupError: naming what is missing and how to create it.
    """
    uid: int | None
    gid: int | None
    if os.geteuid() == 0:
        uid, gid = resolve_user(config.worker_user)
    else:
        uid = gid = None  # not root: no drop possible; the workers report it
    try:
        worker_public = read_public_key(config.worker_key)
    except KeyFileError as exc:
        raise NodeSetupError(
            f"{exc}; create it with `parkmesh sandbox provision`", key="sandbox.worker_key"
        ) from None
    return NodeFacts(
        uid, gid, resolve_device(config.device), read_operator_key(config), worker_public
    )


def ensure_user(name: str) -> tuple[int, int]:
    """Create the worker user as a locked system account if it does not exist."""
    if name.isdigit():
        return int(name), int(name)
    try:
        entry = pwd.getpwnam(name)
        return entry.pw_uid, entry.pw_gid
    except KeyError:
        pass
    subprocess.run(
        [
            "useradd",
            "--system",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            "--user-group",
            name,
        ],
        check=True,
        capture_output=True,
    )
    return resolve_user(name)


def provision(config: SandboxConfig, *, models: bool = True) -> NodeFacts:
    """One-time set-up: worker user, worker key (0600, owned by it), development models.

    Raises:
        NodeSetupError: not root, or a step fails.
        subprocess.CalledProcessError: useradd failed.
    """
    if os.geteuid() != 0:
        raise NodeSetupError("provisioning creates a system user and key files: run it as root")
    uid, gid = ensure_user(config.worker_user)
    provision_worker_key(config.worker_key, uid, gid)
    config.worker_key.parent.chmod(0o755)
    if models:
        from sandbox.models.provision import provision_models

        provision_models(config.models_dir)
    return prepare(config)
