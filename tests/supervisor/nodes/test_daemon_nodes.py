"""The daemon built for each node kind: its rules, source and budget wired by ``[node] kind``,
and each kind's hard-stop trigger writing a registered worker's stop page."""

from __future__ import annotations

import time
from pathlib import Path

import trio

from sandbox.stop_page import StopLevel, StopPage
from supervisor.config.load import parse_config
from supervisor.daemon.app import Supervisor
from supervisor.daemon.systemd import Notifier
from supervisor.policy import Phase
from thermal.preferences import OwnerPreferences
from thermal.prefstore import PreferenceStore

from .test_home_battery import Inverter, _free_port
from .test_robot import Peer


def _config(tmp_path: Path, api_bus: str, node: str) -> str:
    # A house battery or a robot has no departures; what it keeps is its own rules' business
    # (the reserve, the dock), so its owner lets it compute on battery.
    PreferenceStore(tmp_path).save(OwnerPreferences(allow_compute_on_battery=True, departures=()))
    return (
        f'[daemon]\nstate_dir = "{tmp_path}"\nruntime_dir = "{tmp_path}"\n'
        "[sandbox]\nmodels = []\n"
        f'[api]\nbus = "{api_bus}"\n'
        '[budget]\ndevice_temperature = "none"\n'
        "[policy]\nsettle_s = 0.0\n" + node
    )


async def _serve_then_stop(supervisor: Supervisor, trigger: object, reason: str) -> float:
    page = StopPage.create("worker")
    try:
        with supervisor.board.register(page):
            async with trio.open_nursery() as nursery:
                await nursery.start(supervisor.run)
                hotpath = supervisor.hotpath
                with trio.move_on_after(10):
                    while hotpath.decision.phase != Phase.ELIGIBLE:
                        await trio.sleep(0.01)
                assert hotpath.decision.phase == Phase.ELIGIBLE, hotpath.decision.explain()
                hotpath.set_busy(True)
                assert hotpath.decision.phase == Phase.SERVING
                assert page.level() == StopLevel.RUN
                trigger()  # type: ignore[operator]
                acted = time.monotonic()
                with trio.fail_after(5):
                    while page.level() != StopLevel.HARD:
                        await trio.sleep(0.0005)
                ms = (time.monotonic() - acted) * 1000
                assert reason in [r.text for r in hotpath.decision.reasons], (
                    hotpath.decision.explain(),
                    f"{ms:.1f} ms",
                )
                nursery.cancel_scope.cancel()
    finally:
        page.close()
    return ms


async def test_a_home_battery_daemon_stops_on_a_grid_outage(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    port = _free_port()
    inverter = Inverter(port, clean_env)
    try:
        config = parse_config(
            _config(
                tmp_path,
                f"unix:path={tmp_path}/no-bus",
                '[node]\nkind = "home-battery"\n'
                f'[node.home_battery]\nhost = "127.0.0.1"\nport = {port}\npoll_s = 0.1\n',
            )
        )
        supervisor = Supervisor(config, notifier=Notifier({}))
        assert supervisor.node.title == "home battery" and supervisor.guardian is None
        ms = await _serve_then_stop(
            supervisor,
            lambda: inverter.set("grid", "down"),
            "grid outage: the battery's energy is for the house",
        )
        latency = supervisor.hotpath.statistics().last_stop_latency_ms
        print(
            f"daemon, home battery: outage to stop page {ms:.1f} ms, reading to flag {latency} ms"
        )
        assert latency is not None and latency < 50, f"reading to flag {latency} ms"
    finally:
        inverter.close()


async def test_a_robot_daemon_stops_when_the_robot_undocks(
    tmp_path: Path, bus_address: str, clean_env: dict[str, str]
) -> None:
    peer = Peer(bus_address, clean_env)
    try:
        config = parse_config(
            _config(
                tmp_path,
                bus_address,
                f'[node]\nkind = "robot"\n[node.robot]\nbus = "{bus_address}"\npoll_s = 0.2\n',
            )
        )
        supervisor = Supervisor(config, notifier=Notifier({}))
        ms = await _serve_then_stop(
            supervisor, lambda: peer.set("docked", False), "robot left its dock"
        )
        latency = supervisor.hotpath.statistics().last_stop_latency_ms
        print(f"daemon, robot: undock to stop page {ms:.1f} ms, reading to flag {latency} ms")
        assert latency is not None and latency < 50, f"reading to flag {latency} ms"
    finally:
        peer.close()
