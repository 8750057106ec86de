"""One daemon per runtime directory: a lock file in ``[daemon] runtime_dir``.

Two daemons on one car would be two writers of one ledger and two clients with one MQTT
client id, each kicking the other off the broker. The lock is an ``flock`` on
``<runtime_dir>/parkmesh.lock``, which the kernel drops when the process dies, however it dies
(SIGKILL, a power cut): a stale lock file never keeps a restarted daemon out. The file holds
the pid of the daemon that holds it, for the technician.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from supervisor.config.errors import ConfigError

LOCK_NAME = "parkmesh.lock"


class AlreadyRunning(Exception):
    """Another daemon holds the runtime directory's lock."""


@contextlib.contextmanager
def hold_instance_lock(runtime_dir: Path) -> Iterator[Path]:
    """Hold the runtime directory's lock for the body; yields the lock file's path.

    Raises:
        ConfigError: the runtime directory cannot be created or the lock file not opened
            (naming ``daemon.runtime_dir``).
        AlreadyRunning: another live process holds the lock (its pid in the message).
    """
    path = runtime_dir / LOCK_NAME
    try:
        runtime_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise ConfigError(
            f"cannot use {runtime_dir}: {exc.strerror}", key="daemon.runtime_dir"
        ) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise AlreadyRunning(f"another parkmesh daemon (pid {holder}) holds {path}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        # Closing the descriptor drops the lock; the file stays (its pid is then stale, which
        # is harmless: only the flock counts).
        os.close(fd)
