"""``parkmesh dispatcher control``: drain, resume and curtail through a running dispatcher, to
real cars (`NodeUplink` + `LocalPort`) over a real mosquitto, acknowledged."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from supervisor.cli import main
from uplink.dispatcher.control_store import ControlStore
from uplink.local_port import LocalPort
from uplink.mesh import Mesh
from uplink.node import NodeUplink
from uplink.testing import running, wait_until


async def control(*argv: str) -> int:
    """The command, in a thread (it waits synchronously on the state file)."""
    return await trio.to_thread.run_sync(main, ["dispatcher", "control", *argv])


def cars(mesh: Mesh, *names: str) -> tuple[dict[str, LocalPort], list[NodeUplink]]:
    ports = {name: LocalPort() for name in names}
    return ports, [NodeUplink.open(mesh.node_config(n), p) for n, p in ports.items()]


async def test_a_drain_reaches_the_car_named_and_no_other(
    mesh: Mesh, capsys: pytest.CaptureFixture[str]
) -> None:
    dispatcher = mesh.dispatcher(["car1", "car2"], [])
    ports, nodes = cars(mesh, "car1", "car2")
    async with running(dispatcher, *nodes):
        rc = await control("drain", "--db", str(dispatcher.db_path), "--car", "car1")
        assert rc == 0
        assert ports["car1"].draining and not ports["car2"].draining
        assert capsys.readouterr().out == "car1: ok\n"
        rc = await control("resume", "--db", str(dispatcher.db_path), "--car", "car1")
        assert rc == 0
        assert [p.draining for p in ports.values()] == [False, False]
    store = ControlStore(dispatcher.db_path)
    assert store.unsent() == []
    store.close()


async def test_a_group_curtail_reaches_each_member(
    mesh: Mesh, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    groups = tmp_path / "groups.toml"
    groups.write_text('depot = ["car1", "car2"]\nnight = ["car3"]\n')
    dispatcher = mesh.dispatcher(["car1", "car2", "car3"], [])
    ports, nodes = cars(mesh, "car1", "car2", "car3")
    async with running(dispatcher, *nodes):
        rc = await control(
            "curtail", "--db", str(dispatcher.db_path), "--group", "depot",
            "--groups", str(groups), "--max-power-w", "300", "--minutes", "30",
        )  # fmt: skip
    assert rc == 0
    assert capsys.readouterr().out.splitlines() == ["car1: ok", "car2: ok"]
    assert not ports["car3"].curtailments
    (one,) = ports["car1"].curtailments.values()
    (two,) = ports["car2"].curtailments.values()
    assert one == two  # one window, one id, for the whole group
    assert one.max_power_w == 300.0 and one.until - one.start == pytest.approx(1800.0)


async def test_a_car_that_is_down_is_named_when_the_wait_runs_out(
    mesh: Mesh, capsys: pytest.CaptureFixture[str]
) -> None:
    dispatcher = mesh.dispatcher(["car1", "car2"], [])
    ports, nodes = cars(mesh, "car1")
    async with running(dispatcher, *nodes):
        with trio.fail_after(20):
            rc = await control(
                "drain", "--db", str(dispatcher.db_path), "--car", "car1", "--car", "car2",
                "--timeout-s", "2",
            )  # fmt: skip
    assert rc == 1
    out = capsys.readouterr()
    assert out.out.splitlines() == [
        "car1: ok",
        "car2: sent, no acknowledgement within 2 s",
    ]
    assert "no acknowledgement from car2" in out.err
    assert ports["car1"].draining


async def test_all_means_every_car_the_dispatcher_has_heard_from(
    mesh: Mesh, capsys: pytest.CaptureFixture[str]
) -> None:
    dispatcher = mesh.dispatcher(["car1", "car2"], [])
    ports, nodes = cars(mesh, "car1", "car2")
    async with running(dispatcher, *nodes):
        await wait_until(lambda: len(dispatcher.store.nodes()) == 2, 10.0, "both statuses saved")
        assert await control("drain", "--db", str(dispatcher.db_path), "--all") == 0
    assert all(p.draining for p in ports.values())
    assert capsys.readouterr().out.splitlines() == ["car1: ok", "car2: ok"]


def test_without_a_running_dispatcher_nothing_is_sent_and_the_command_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "d.sqlite3"
    argv = ["dispatcher", "control", "drain", "--db", str(db), "--car", "car1"]
    assert main([*argv, "--timeout-s", "0.3"]) == 1
    assert capsys.readouterr().out == "car1: not sent (is the dispatcher running?) within 0.3 s\n"


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["curtail", "--car", "car1"], "curtail needs --max-power-w and --minutes"),
        (["drain", "--group", "depot"], "--group needs --groups FILE"),
        (["drain", "--all"], "the dispatcher has heard from no car yet"),
    ],
)
def test_usage_errors(
    argv: list[str], error: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "d.sqlite3"
    assert main(["dispatcher", "control", *argv, "--db", str(db)]) == 2
    assert f"parkmesh dispatcher control: {error}" in capsys.readouterr().err
