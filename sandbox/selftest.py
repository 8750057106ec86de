"""``parkmesh selftest sandbox``: a confined worker tries to escape; every attempt must fail.

The worker is started exactly as the daemon starts it (same pool, same confinement). The
supervisor side offers real targets: a listening AF_UNIX socket the worker could connect to if
``connect`` were allowed, and its own pid for ptrace, /proc/PID/mem, process_vm_readv and
kill. The report lists the confinement steps the worker applied, each attempt as
``{name, denied, detail}`` and the controls (things that must keep working, such as threads).
"""

from __future__ import annotations

import os
import socket
import tempfile
from typing import Any

from sandbox.config import SandboxConfig
from sandbox.session import open_pool


async def run_selftest(config: SandboxConfig, model: str, **pool_kwargs: Any) -> dict[str, Any]:
    """Start a pool with `model`'s worker, run the escapes, return the report."""
    config = _only(config, model)
    with tempfile.TemporaryDirectory(prefix="parkmesh-selftest-") as tmp:
        os.chmod(tmp, 0o755)
        path = os.path.join(tmp, "listener.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(path)
            os.chmod(path, 0o777)
            listener.listen(1)
            async with open_pool(config, **pool_kwargs) as pool:
                reply = await pool.selftest(
                    model, {"unix_socket": path, "supervisor_pid": os.getpid()}
                )
        finally:
            listener.close()
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
        "n": len(attempts),
    }


def _only(config: SandboxConfig, model: str) -> SandboxConfig:
    import dataclasses

    return dataclasses.replace(config, models=(model,))
