"""``parkmesh drain``, ``resume`` and ``test-stop`` against the fake daemon on a private bus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from supervisor.cli import main
from supervisor.cli.output import EX_UNREACHABLE


@pytest.fixture(autouse=True)
def _no_env_bus(monkeypatch: pytest.MonkeyPatch) -> None:
    # `--bus` is passed on through the environment; this makes monkeypatch restore it, so
    # that the bus of this file's fake daemon does not outlive its tests.
    monkeypatch.setenv("PARKMESH_BUS_ADDRESS", "")


def test_drain_resume_and_a_timed_test_stop(
    fake_daemon: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["drain", "--bus", fake_daemon]) == 0
    assert "draining" in capsys.readouterr().out
    assert main(["status", "--json", "--bus", fake_daemon]) == 0
    assert main(["resume", "--bus", fake_daemon]) == 0
    capsys.readouterr()
    assert main(["test-stop", "--json", "--bus", fake_daemon]) == 0
    assert json.loads(capsys.readouterr().out) == {"done": "test-stop", "latency_ms": 3.25}
    assert main(["test-stop", "--bus", fake_daemon]) == 0
    assert "3.250 ms" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["drain", "resume", "test-stop"])
def test_without_a_daemon_each_says_so_with_the_one_status(
    command: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PARKMESH_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    assert main([command]) == EX_UNREACHABLE
    assert "not reachable" in capsys.readouterr().err
