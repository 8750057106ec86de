"""Scenario files: checks on load, and playing with a mock clock."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from sandbox.board import PageBoard
from supervisor.config.errors import ConfigError
from supervisor.hotpath import HotPath
from supervisor.policy import AdmissionPolicy, Phase, PolicyConfig
from supervisor.policy_clock import PolicyClock
from supervisor.vehicle import vss
from supervisor.vehicle.config import DATA_DIR
from supervisor.vehicle.scenario import ScenarioEvent, ScenarioSource, load_scenario
from supervisor.vehicle.state import VehicleState


def test_the_demo_scenario_loads() -> None:
    scenario = load_scenario(DATA_DIR / "demo_scenario.toml")
    assert scenario.events[0].note == "arrives home and stops"
    assert set(PolicyConfig().required_signals) <= scenario.paths


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ('[initial]\n"Vehicle.Sped" = 1.0\n', "initial", "did you mean Vehicle.Speed?"),
        ('[initial]\n"Vehicle.Speed" = "fast"\n', "initial", "Vehicle.Speed is float, got 'fast'"),
        ("[[event]]\nat = 2\n[[event]]\nat = 1\n", "event[1].at", "events must be in time order"),
        ("[[event]]\nat = -1\n", "event[0].at", "must be a number >= 0.0"),
        ("[[event]]\nat = 1\nwhen = 2\n", "event[0].when", "unknown key"),
        ("refresh_s = 0\n", "refresh_s", "must be a number >= 0.001"),
    ],
)
def test_bad_scenarios(tmp_path: Path, text: str, key: str, message: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert info.value.key == key
    assert message in str(info.value)


async def test_playing_the_demo_scenario_with_a_mock_clock(
    autojump_clock: trio.testing.MockClock,
) -> None:
    scenario = load_scenario(DATA_DIR / "demo_scenario.toml")
    hotpath = HotPath(
        VehicleState(),
        AdmissionPolicy(PolicyConfig(settle_s=3.0)),
        PageBoard(),
        clock=trio.current_time,
    )
    events: list[tuple[float, ScenarioEvent]] = []
    source = ScenarioSource(
        scenario, hotpath, on_event=lambda e: events.append((trio.current_time(), e))
    )
    phases: list[tuple[float, Phase]] = []
    hotpath.add_listener(lambda d: phases.append((trio.current_time(), d.phase)))
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        await nursery.start(source.run)
        await nursery.start(PolicyClock(hotpath).run)
        await trio.sleep(scenario.duration_s + 1)
        nursery.cancel_scope.cancel()
    assert [round(t - start, 3) for t, _ in events] == [e.at for e in scenario.events]
    assert hotpath.state.value(vss.GEAR, trio.current_time()) == vss.GEAR_PARK
    # The closed-door settle of 3 s after 4.0 s admits the car at 7.0 s of scenario time.
    eligible_at = [round(t - start, 1) for t, p in phases if p == Phase.ELIGIBLE]
    assert eligible_at[0] == 7.0
