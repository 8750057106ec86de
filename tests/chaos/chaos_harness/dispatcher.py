"""`DispatcherProcess`: ``parkmesh dispatcher`` (the reference dispatcher) with its sqlite
store."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from .broker import MeshFiles
from .constants import PYTHON, REPO
from .process import Process
from .sqlite_files import rows


class DispatcherProcess(Process):
    """``parkmesh dispatcher`` on the broker, its outcomes in `db`."""

    def __init__(self, files: MeshFiles, port: int, workdir: Path) -> None:
        super().__init__("dispatcher", workdir / "dispatcher.log")
        self.files = files
        self.port = port
        self.db = workdir / "dispatcher.sqlite3"
        tls = files.tls("dispatcher")
        self.argv = [
            PYTHON,
            "-m",
            "supervisor.cli",
            "dispatcher",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--ca",
            str(tls.ca),
            "--cert",
            str(tls.cert),
            "--key",
            str(tls.key),
            "--signing-key",
            str(files.mesh.signing_key_path("dispatcher")),
            "--nodes-dir",
            str(files.root / "nodes"),
            "--clients-dir",
            str(files.root / "clients"),
            *self._reconnect_args(),
            "--db",
            str(self.db),
        ]

    @staticmethod
    def _reconnect_args() -> list[str]:
        """A quick reconnect after a broker outage, where the dispatcher lets us choose it."""
        help_text = subprocess.run(
            [PYTHON, "-m", "supervisor.cli", "dispatcher", "--help"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        ).stdout
        args = []
        if "--reconnect-min-s" in help_text:
            args += ["--reconnect-min-s", "0.05"]
        if "--reconnect-max-s" in help_text:
            args += ["--reconnect-max-s", "1.0"]
        return args

    def start(self) -> None:
        """Start the dispatcher (it connects on its own, with back-off)."""
        self.spawn(self.argv)

    def receipts(self) -> list[dict[str, Any]]:
        """Every receipt the dispatcher issued, from its store."""
        return rows(self.db, "SELECT * FROM receipts")

    def unsent(self) -> int:
        """Messages its store still holds for sending (0 where it keeps no outbox)."""
        return len(rows(self.db, "SELECT seq FROM outbox"))
