"""`Process`: one child process at a time, its output appended to a log file of its own (with a
``=== harness: ...`` line at each start and kill); always killed and reaped by `close`."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path

from .constants import REPO


def stamp() -> str:
    """Wall-clock time with milliseconds, for the harness's lines in the logs."""
    return datetime.now().strftime("%H:%M:%S.%f")[:-3]


class Process:
    """One child process at a time, its output appended to `log`; killed and reaped on `close`."""

    def __init__(self, name: str, log: Path) -> None:
        self.name = name
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def alive(self) -> bool:
        """Started and not exited."""
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        """The running process's id."""
        assert self.proc is not None, f"{self.name} is not running"
        return self.proc.pid

    def note(self, text: str) -> None:
        """Write a harness line into the log (where the process's own lines go)."""
        with self.log.open("a") as f:
            f.write(f"=== harness {stamp()}: {text} ===\n")

    def spawn(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        """Start `argv` (the previous process must be gone)."""
        assert not self.alive, f"{self.name} is already running"
        self.starts += 1
        self.note(f"start #{self.starts}: {' '.join(argv[-4:])}")
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )

    def kill(self, why: str = "SIGKILL") -> None:
        """SIGKILL and reap (nothing when not running)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)
            self.note(f"{why} (pid {self.proc.pid})")
        self.proc.wait()
        self.proc = None

    def terminate(self, timeout_s: float) -> float | None:
        """SIGTERM; the seconds it took to exit, or None if it had to be killed after
        `timeout_s`."""
        assert self.proc is not None
        self.note(f"SIGTERM (pid {self.proc.pid})")
        t0 = time.monotonic()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill(f"SIGKILL: still running {timeout_s} s after SIGTERM")
            return None
        took = time.monotonic() - t0
        self.note(f"exited {self.proc.returncode} {took:.2f} s after SIGTERM")
        self.proc = None
        return took

    def close(self) -> None:
        """Kill and reap whatever runs (the test's clean-up)."""
        self.kill("SIGKILL at clean-up")

    def lines(self, pattern: str) -> list[str]:
        """Log lines matching the regular expression `pattern`."""
        if not self.log.exists():
            return []
        rx = re.compile(pattern)
        return [
            line for line in self.log.read_text(errors="replace").splitlines() if rx.search(line)
        ]
