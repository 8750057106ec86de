"""The technician's and the owner's commands on one real daemon (``parkmesh run``, the scenario
car, one real confined worker), through the CLI as a user types them: drain and pause show in
``why`` and resume lifts them, a test stop, a curtailment, a preference, a reload of the
daemon's file (a broken one refused while the daemon carries on), and a worker's restart."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))

from parkmesh_private_bus import RealDaemonProcess

from supervisor.api import client
from supervisor.cli import main

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Daemon:
    """The one real daemon of this module, and the private bus it serves on."""

    process: RealDaemonProcess
    bus: str

    @property
    def state_dir(self) -> Path:
        return self.process.state_dir


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    from supervisor.demo.bus import open_private_bus

    root = tmp_path_factory.mktemp("real-daemon")
    with open_private_bus(root / "bus") as address:
        real = RealDaemonProcess(address, root / "state", workers=True)
        try:
            yield Daemon(real, address)
        finally:
            real.stop()


@pytest.fixture
def parkmesh(
    daemon: Daemon, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> object:
    """``parkmesh ARGV`` on the daemon's bus (``curtail`` takes no ``--bus``: the environment
    names it for every command): (exit status, stdout, stderr)."""
    monkeypatch.setenv("PARKMESH_BUS_ADDRESS", daemon.bus)

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            rc = main(list(argv))
        except SystemExit as exc:  # argparse's refusal of a flag
            rc = int(exc.code or 0)
        out, err = capsys.readouterr()
        return rc, out, err

    return run


def test_drain_and_pause_show_in_why_and_resume_lifts_them(parkmesh) -> None:
    assert parkmesh("drain")[0] == 0
    rc, why, _ = parkmesh("why")
    assert rc == 0 and "(drained)" in why
    rc, out, _ = parkmesh("resume")
    assert (rc, out.split(";")[0]) == (0, "resumed: lifted the technician's drain")
    assert "(drained)" not in parkmesh("why")[1]

    assert parkmesh("pause", "--until", "06:30")[0] == 0
    assert "paused by the owner until 06:30" in parkmesh("why")[1]
    rc, out, _ = parkmesh("resume")
    assert (rc, out.split(";")[0]) == (0, "resumed: lifted the owner's pause")
    assert "paused by the owner" not in parkmesh("why")[1]


def test_test_stop_curtail_and_a_preference(parkmesh) -> None:
    rc, out, _ = parkmesh("test-stop", "--json")
    assert rc == 0 and 0 <= json.loads(out)["latency_ms"] < 1000

    rc, out, _ = parkmesh("curtail", "--level", "2", "--duration", "30", "--json")
    assert rc == 0
    accepted = json.loads(out)
    assert (accepted["level"], accepted["duration_s"]) == (2, 1800.0)
    rc, out, _ = parkmesh("curtail", "--level", "7", "--duration", "30")
    assert rc == 2  # refused by the command line, naming the flag

    assert parkmesh("prefs", "set", "charge_floor_percent", "55")[0] == 0
    rc, out, _ = parkmesh("prefs", "get", "charge_floor_percent")
    assert rc == 0 and "55 %" in out


def test_reload_applies_the_log_level_and_refuses_a_broken_file(daemon: Daemon, parkmesh) -> None:
    config = daemon.state_dir / "parkmesh.toml"
    good = config.read_text()
    assert parkmesh("reload")[1].strip() == "configuration reloaded: nothing changed"

    config.write_text(
        good.replace("[daemon]\n", '[daemon]\nlog_level = "debug"\n').replace(
            "poll_s = 0.1", "poll_s = 0.2"
        )
    )
    rc, out, _ = parkmesh("reload", "--json")
    assert rc == 0
    assert json.loads(out) == {
        "done": "reload",
        "applied": ["daemon.log_level"],
        "needs_restart": ["api.poll_s"],
    }
    rc, out, _ = parkmesh("reload")
    assert out.splitlines()[-1] == "needs a restart (systemctl restart parkmesh): api.poll_s"
    log = client.call("GetLog", 50, bus=daemon.bus)[0]
    assert any("configuration reloaded: applied daemon.log_level" in line for line in log)

    config.write_text(good.replace("poll_s = 0.1", "poll_s = 'often'"))
    rc, _, err = parkmesh("reload")
    assert rc == 1
    line = good.splitlines().index("poll_s = 0.1") + 1
    assert err.startswith(f"parkmesh reload: refused: nothing changed: {config}:{line}: ")
    assert "poll_s" in err
    assert parkmesh("why")[0] == 0  # the daemon carries on, with what it had
    config.write_text(good)


def test_restart_worker_comes_back_ready(daemon: Daemon, parkmesh) -> None:
    (worker,) = client.get_property("WorkersJson", bus=daemon.bus)
    rc, out, err = parkmesh("restart-worker", worker["model"], "--json", "--wait", "45")
    assert rc == 0, err
    answer = json.loads(out)
    assert answer["worker"] == worker["model"]
    assert answer["stopped_pid"] == worker["id"]
    assert answer["ready_pid"] not in (None, worker["id"])
    (fresh,) = client.get_property("WorkersJson", bus=daemon.bus)
    assert fresh["state"] in ("ready", "busy") and fresh["restarts"] == worker["restarts"] + 1

    rc, _, err = parkmesh("restart-worker", "no-such-model")
    assert rc == 1
    assert f"name: no worker 'no-such-model' (workers: {worker['model']})" in err
