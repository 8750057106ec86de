"""The command line's promises to scripts: one exit status for a daemon it cannot reach, and
no traceback when its reader goes away (``parkmesh ... | head``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from supervisor.cli import main
from supervisor.cli.output import EX_UNREACHABLE


@pytest.mark.parametrize(
    "argv",
    [
        ["status"],
        ["status", "--json"],
        ["why"],
        ["prefs", "get"],
        ["prefs", "set", "charge_floor_percent", "40"],
        ["budget", "--json"],
        ["curtail", "--level", "3", "--duration", "5"],
    ],
)
def test_every_command_that_needs_the_daemon_says_so_with_one_status(
    argv: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("PARKMESH_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    assert main(argv) == EX_UNREACHABLE
    err = capsys.readouterr().err
    assert "not reachable" in err and "Traceback" not in err, err


@pytest.mark.parametrize("argv", [["simulate-night", "--json"], ["simulate-night"]])
def test_a_reader_that_went_away_gets_no_traceback(argv: list[str]) -> None:
    # `parkmesh ... | head -c 0`, deterministically: the pipe's reader is gone before the
    # first write.
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "supervisor.cli", *argv],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write)
    assert done.returncode == 141, done.stderr
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
