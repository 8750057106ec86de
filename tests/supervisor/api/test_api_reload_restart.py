"""``ReloadConfig`` and ``RestartWorker``: ``parkmesh reload`` and ``parkmesh restart-worker``
against the fake daemon on a private bus (the exit statuses and the words), and the daemon's
own facade and dispatcher when there is no file to re-read or no worker to restart."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from jeepney import DBusAddress, HeaderFields, MessageType, new_method_call
from parkmesh_private_bus import FakeDaemonProcess
from parkmesh_real_parts import RealPartsFacade

from supervisor.api import names
from supervisor.api.dispatch import Dispatcher
from supervisor.api.facade import ReloadRefused
from supervisor.cli import main
from supervisor.cli.output import EX_UNREACHABLE
from supervisor.config.errors import ConfigError
from supervisor.daemon.log_ring import LogRing
from supervisor.daemon.reload import NoConfigFile, ReloadOutcome

OBJ = DBusAddress(names.OBJECT_PATH, bus_name=names.BUS_NAME, interface=names.INTERFACE)


@pytest.fixture(autouse=True)
def _no_env_bus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARKMESH_BUS_ADDRESS", "")


def test_reload_says_what_applied_and_what_waits(
    fake_daemon: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["reload", "--bus", fake_daemon]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "configuration reloaded: applied daemon.log_level",
        "needs a restart (systemctl restart parkmesh): sandbox.threads",
    ]
    assert main(["reload", "--json", "--bus", fake_daemon]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "done": "reload",
        "applied": ["daemon.log_level"],
        "needs_restart": ["sandbox.threads"],
    }


def test_a_refused_reload_exits_1_with_the_file_and_line(
    bus_address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    daemon = FakeDaemonProcess(bus_address)
    try:
        daemon.send(json.dumps({"reload_error": "/etc/parkmesh/parkmesh.toml:3: bad value"}))
        for _ in range(50):  # the control line is read by the fake's own task
            if main(["reload", "--bus", bus_address]) == 1:
                break
            capsys.readouterr()
            time.sleep(0.05)
        err = capsys.readouterr().err
        assert err.strip() == (
            "parkmesh reload: refused: nothing changed: /etc/parkmesh/parkmesh.toml:3: bad value"
        )
    finally:
        daemon.stop()


def test_restart_worker_by_name_and_an_unknown_one(
    fake_daemon: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["restart-worker", "minilm-l6", "--wait", "0", "--bus", fake_daemon]) == 0
    assert capsys.readouterr().out.strip() == "worker for minilm-l6 restarting: pid w0 stopped"
    argv = ["restart-worker", "minilm-l6", "--wait", "0", "--json", "--bus", fake_daemon]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out) == {
        "done": "restart-worker",
        "worker": "minilm-l6",
        "stopped_pid": "w0",
        "stopped_jobs": [],
        "ready_pid": None,
    }
    assert main(["restart-worker", "gpt-9", "--bus", fake_daemon]) == 1
    assert capsys.readouterr().err.strip() == (
        "parkmesh restart-worker: refused: name: no worker 'gpt-9' (workers: minilm-l6)"
    )
    # The fake's worker never comes back under a new pid: the wait ends, and says so.
    assert main(["restart-worker", "minilm-l6", "--wait", "0.3", "--bus", fake_daemon]) == 1
    assert "no fresh worker ready within 0.3 s" in capsys.readouterr().err


def test_a_worker_already_restarting_is_unavailable(bus_address: str) -> None:
    from supervisor.api import client

    daemon = FakeDaemonProcess(bus_address)
    try:
        coming_back = {"id": "w0", "model": "minilm-l6", "state": "restarting"}
        daemon.send(json.dumps({"workers": [coming_back]}))
        for _ in range(50):  # the control line is read by the fake's own task
            if client.get_property("WorkersJson", bus=bus_address)[0]["state"] == "restarting":
                break
            time.sleep(0.05)
        with pytest.raises(client.ApiCallError) as refused:
            client.call("RestartWorker", "minilm-l6", bus=bus_address)
        assert refused.value.name == names.ERROR_UNAVAILABLE
        assert refused.value.message == "name: the worker for minilm-l6 is restarting"
    finally:
        daemon.stop()


@pytest.mark.parametrize("argv", [["reload"], ["restart-worker", "minilm-l6"]])
def test_without_a_daemon_the_one_status(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PARKMESH_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    assert main(argv) == EX_UNREACHABLE
    assert "not reachable" in capsys.readouterr().err


def _error(reply: object) -> tuple[str, str]:
    header = reply.header  # type: ignore[attr-defined]
    assert header.message_type == MessageType.error
    return header.fields[HeaderFields.error_name], reply.body[0]  # type: ignore[attr-defined]


async def test_the_daemon_facade_without_a_file_or_a_pool(tmp_path: Path) -> None:
    daemon = RealPartsFacade(tmp_path / "state", LogRing()).daemon
    dispatcher = Dispatcher(daemon)

    reply = await dispatcher.handle(new_method_call(OBJ, "ReloadConfig"))
    assert _error(reply) == (
        names.ERROR_UNAVAILABLE,
        "nothing changed: this daemon cannot reload its configuration",
    )

    def no_file() -> ReloadOutcome:
        raise NoConfigFile("the daemon was started without a configuration file to re-read")

    daemon.reloader = no_file
    with pytest.raises(ReloadRefused, match="without a configuration file") as refused:
        await daemon.reload_config()
    assert refused.value.unavailable

    def broken() -> ReloadOutcome:
        raise ConfigError("must be a number", file=Path("/etc/p.toml"), line=3, key="api.poll_s")

    daemon.reloader = broken
    reply = await dispatcher.handle(new_method_call(OBJ, "ReloadConfig"))
    assert _error(reply) == (
        names.ERROR_FAILED,
        "nothing changed: /etc/p.toml:3: api.poll_s: must be a number",
    )

    daemon.reloader = lambda: ReloadOutcome(("daemon.log_level",), ())
    reply = await dispatcher.handle(new_method_call(OBJ, "ReloadConfig"))
    assert json.loads(reply.body[0]) == {"applied": ["daemon.log_level"], "needs_restart": []}

    # A car that serves no jobs has no worker to restart.
    reply = await dispatcher.handle(new_method_call(OBJ, "RestartWorker", "s", ("w",)))
    assert _error(reply) == (names.ERROR_INVALID_ARGS, "name: no worker 'w' (workers: none)")
