"""One daemon per runtime directory: the lock refuses a second one and survives a SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from supervisor.config.errors import ConfigError
from supervisor.daemon.instance_lock import LOCK_NAME, AlreadyRunning, hold_instance_lock


def test_a_second_daemon_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    with hold_instance_lock(tmp_path / "run") as path:
        assert path.read_text() == f"{os.getpid()}\n"
        with (
            pytest.raises(
                AlreadyRunning, match=rf"^another parkmesh daemon \(pid {os.getpid()}\) holds "
            ),
            hold_instance_lock(tmp_path / "run"),
        ):
            pass
    # Released on exit: the next daemon takes it.
    with hold_instance_lock(tmp_path / "run"):
        pass


def test_a_killed_daemon_leaves_no_lock_behind(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path\n"
            "from supervisor.daemon.instance_lock import hold_instance_lock\n"
            "with hold_instance_lock(Path(sys.argv[1])):\n"
            "    print('held', flush=True); time.sleep(60)\n",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(AlreadyRunning, match=f"pid {holder.pid}"), hold_instance_lock(tmp_path):
            pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout:
            holder.stdout.close()
    assert (tmp_path / LOCK_NAME).exists()  # the stale file does not matter: the flock does
    with hold_instance_lock(tmp_path) as path:
        assert path.read_text() == f"{os.getpid()}\n"


def test_an_unusable_runtime_dir_names_the_key(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with (
        pytest.raises(ConfigError, match=r"^daemon\.runtime_dir: cannot use .*file/run"),
        hold_instance_lock(blocker / "run"),
    ):
        pass
