"""The admission policy with another node kind's rules: unknown and stale still stop work."""

from __future__ import annotations

import pytest

from supervisor.nodes.config import HomeBatteryConfig
from supervisor.nodes.home_battery import signals as hb
from supervisor.nodes.home_battery.rules import HomeBatteryRules
from supervisor.nodes.robot import signals as rb
from supervisor.nodes.robot.rules import RobotRules
from supervisor.policy import AdmissionPolicy, Phase, PolicyConfig
from supervisor.policy.rules import NodeRules
from supervisor.vehicle.state import SignalUpdate, Value, VehicleState

BATTERY_OK: dict[str, Value] = {
    hb.SOC: 80.0,
    hb.RESERVE: 20.0,
    hb.CHARGE_STATE: "HOLDING",
    hb.TEMPERATURE: 25.0,
    hb.GRID_CONNECTED: True,
    hb.INVERTER_STATE: "MPPT",
}
ROBOT_OK: dict[str, Value] = {
    rb.SOC: 84.0,
    rb.BATTERY_STATE: "CHARGING",
    rb.CHARGER_ONLINE: True,
    rb.DOCKED: True,
    rb.BUSY: False,
}
KINDS: list[tuple[NodeRules, dict[str, Value]]] = [
    (HomeBatteryRules(HomeBatteryConfig(host="inv")), BATTERY_OK),
    (RobotRules(), ROBOT_OK),
]


def _decide(rules: NodeRules, values: dict[str, Value | None], now: float = 0.0) -> list[str]:
    state = VehicleState()
    for path in values:
        state.declare(path, 2.0)
    state.apply_all(SignalUpdate(path, value, 0.0) for path, value in values.items())
    policy = AdmissionPolicy(PolicyConfig(settle_s=0.0), rules)
    decision = policy.evaluate(state, now)
    assert decision.hard or decision.phase == Phase.ELIGIBLE
    return [r.text for r in decision.reasons if r.hard]


@pytest.mark.parametrize(("rules", "ok"), KINDS)
def test_known_safe_readings_admit(rules: NodeRules, ok: dict[str, Value]) -> None:
    assert _decide(rules, dict(ok)) == []


@pytest.mark.parametrize(("rules", "ok"), KINDS)
def test_every_required_signal_unknown_stale_or_missing_stops_work(
    rules: NodeRules, ok: dict[str, Value]
) -> None:
    for path in ok:
        assert any("reports it as unknown" in r for r in _decide(rules, {**ok, path: None}))
        missing = {p: v for p, v in ok.items() if p != path}
        assert any("no reading yet" in r for r in _decide(rules, missing))
    assert len([r for r in _decide(rules, dict(ok), now=5.0) if "stale" in r]) == len(ok)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({hb.GRID_CONNECTED: False}, "grid outage: the battery's energy is for the house"),
        (
            {hb.SOC: 24.0},
            "state of charge 24.0 % is at the backup reserve of 20 % the owner set"
            " (work stops 5 points above it)",
        ),
        ({hb.CHARGE_STATE: "TESTING"}, "battery state is TESTING"),
        ({hb.INVERTER_STATE: "SHUTTING_DOWN"}, "inverter state is SHUTTING_DOWN"),
        ({hb.TEMPERATURE: 46.0}, "battery at 46.0 °C, above its limit of 45 °C"),
    ],
)
def test_home_battery_hard_stops(change: dict[str, Value], reason: str) -> None:
    assert reason in _decide(KINDS[0][0], {**BATTERY_OK, **change})


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({rb.DOCKED: False}, "robot left its dock"),
        ({rb.BUSY: True}, "robot took a task"),
        ({rb.BATTERY_STATE: "EMPTY"}, "battery state is EMPTY"),
    ],
)
def test_robot_hard_stops(change: dict[str, Value], reason: str) -> None:
    assert reason in _decide(RobotRules(), {**ROBOT_OK, **change})


def test_a_robot_off_its_charger_is_the_budgets_business() -> None:
    assert _decide(RobotRules(), {**ROBOT_OK, rb.CHARGER_ONLINE: False}) == []
