"""``parkmesh selftest sandbox``: a confined worker tries to escape; every attempt must fail.

The worker is started exactly as the daemon starts it (same pool, same confinement). The
supervisor side offers real targets (`Targets`): a listening AF_UNIX socket the worker could
connect to if ``connect`` were allowed; its own pid for ptrace, /proc/PID/mem,
process_vm_readv and kill; a stopped *sibling* process running as the worker user (as another
worker would), which a delivered SIGCONT would wake; the worker's own key; an existing
world-writable file outside scratch; and a state directory holding a world-readable ledger,
uplink store (real sqlite databases) and configuration, as the daemon's would be.

The report lists the confinement steps the worker applied, each attempt as
``{name, denied, detail}``, the controls (what must keep working, such as threads and
signalling itself), and ``targets_unchanged``: whether the supervisor finds the sibling still
stopped and with its limits, priority and affinity, and the files as they were.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import socket
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sandbox import freeze
from sandbox.config import SandboxConfig
from sandbox.node import resolve_user
from sandbox.session import open_pool

CANARY = "parkmesh-selftest-canary"


@dataclasses.dataclass(slots=True)
class Targets:
    """What the worker is offered to attack, in a temporary directory (see the module)."""

    base: Path
    sibling: subprocess.Popen[bytes]
    worker_key: Path

    @property
    def world_writable(self) -> Path:
        return self.base / "shared.txt"

    @property
    def state_dir(self) -> Path:
        return self.base / "state"

    def to_wire(self, models_dir: Path) -> dict[str, Any]:
        state = self.state_dir
        return {
            "unix_socket": str(self.base / "listener.sock"),
            "supervisor_pid": os.getpid(),
            "sibling_pid": self.sibling.pid,
            "worker_key": str(self.worker_key),
            "world_writable": str(self.world_writable),
            "state_dir": str(state),
            "state_files": {
                "ledger": str(state / "ledger.sqlite"),
                "uplink_store": str(state / "uplink.sqlite3"),
                "config": str(state / "parkmesh.toml"),
            },
            "models_dir": str(models_dir),
        }

    def fingerprint(self) -> dict[str, Any]:
        """The state the worker must not change (compared before and after)."""
        pid = self.sibling.pid
        files = {}
        for path in (self.world_writable, self.worker_key, *sorted(self.state_dir.iterdir())):
            st = path.stat()
            data = path.read_bytes()
            files[str(path)] = (
                hashlib.sha256(data).hexdigest(),
                st.st_mtime_ns,
                st.st_size,
                sorted(os.listxattr(path)),
            )
        return {
            "files": files,
            "sibling_stopped": freeze.all_threads_stopped(pid),
            # /proc, not prlimit: reading another user's limits may need CAP_SYS_RESOURCE.
            "sibling_limits": Path(f"/proc/{pid}/limits").read_text(),
            "sibling_nice": os.getpriority(os.PRIO_PROCESS, pid),
            "sibling_affinity": sorted(os.sched_getaffinity(pid)),
            "sibling_policy": os.sched_getscheduler(pid),
        }


@contextlib.contextmanager
def offered_targets(config: SandboxConfig) -> Iterator[Targets]:
    """Create the targets; the sibling is killed and everything removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="parkmesh-selftest-") as tmp:
        base = Path(tmp)
        base.chmod(0o755)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(base / "listener.sock"))
            os.chmod(base / "listener.sock", 0o777)
            listener.listen(1)
            _write_state(base / "state")
            shared = base / "shared.txt"
            shared.write_text(f"{CANARY}\n")
            shared.chmod(0o666)  # chmod: the umask would take the write bits away
            sibling = _start_sibling(config)
            try:
                yield Targets(base, sibling, config.worker_key)
            finally:
                sibling.kill()
                sibling.wait()
        finally:
            listener.close()


def _write_state(state: Path) -> None:
    """A state directory as the daemon's might be left by a wrong umask: all world-readable."""
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    for name in ("ledger.sqlite", "uplink.sqlite3"):
        with contextlib.closing(sqlite3.connect(state / name)) as db, db:
            db.execute("CREATE TABLE secret (value TEXT)")
            db.execute("INSERT INTO secret VALUES (?)", (CANARY,))
        (state / name).chmod(0o644)
    (state / "parkmesh.toml").write_text(f'[uplink]\npassword = "{CANARY}"\n')
    (state / "parkmesh.toml").chmod(0o644)


def _start_sibling(config: SandboxConfig) -> subprocess.Popen[bytes]:
    """A stopped process of the worker user, standing for another worker."""
    user: dict[str, Any] = {}
    if os.geteuid() == 0:
        uid, gid = resolve_user(config.worker_user)
        user = {"user": uid, "group": gid, "extra_groups": []}
    sibling = subprocess.Popen(
        ["sleep", "3600"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        close_fds=True,
        start_new_session=True,
        **user,
    )
    os.kill(sibling.pid, 19)  # SIGSTOP: a SIGCONT from the worker would show
    for _ in range(1000):
        if freeze.all_threads_stopped(sibling.pid):
            break
        os.sched_yield()
    return sibling


async def run_selftest(config: SandboxConfig, model: str, **pool_kwargs: Any) -> dict[str, Any]:
    """Start a pool with `model`'s worker, run the escapes, return the report."""
    config = dataclasses.replace(config, models=(model,))
    with offered_targets(config) as targets:
        async with open_pool(config, **pool_kwargs) as pool:
            before = targets.fingerprint()
            reply = await pool.selftest(model, targets.to_wire(config.models_dir))
            after = targets.fingerprint()
    attempts = reply["attempts"]
    controls = reply["controls"]
    status = reply["status"]
    return {
        "model": model,
        "worker_pid": status.get("pid"),
        "uid": status.get("uid"),
        "confinement": status.get("steps", []),
        "confined": bool(status.get("confined")),
        "attempts": attempts,
        "controls": controls,
        "all_denied": all(a["denied"] for a in attempts),
        "controls_work": not any(c["denied"] for c in controls),
        "targets_unchanged": before == after and bool(before["sibling_stopped"]),
        "n": len(attempts),
    }
