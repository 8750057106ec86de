"""The admission policy, without an event loop: every trigger, staleness, settle, soft stops."""

from __future__ import annotations

import pytest

from supervisor.policy import AdmissionPolicy, Phase, PolicyConfig
from supervisor.vehicle import vss
from supervisor.vehicle.state import SignalUpdate, Value, VehicleState
from tests.supervisor.parked import PARKED


def parked_state(at: float, max_age: float = 1.0, **changes: Value) -> VehicleState:
    state = VehicleState()
    for path, value in PARKED.items():
        state.declare(path, max_age)
        state.apply(SignalUpdate(path, value, at))
    for path, value in changes.items():
        state.apply(SignalUpdate(path, value, at))
    return state


def admitted(settle_s: float = 0.0) -> tuple[AdmissionPolicy, VehicleState]:
    policy = AdmissionPolicy(PolicyConfig(settle_s=settle_s))
    state = parked_state(0.0)
    assert policy.evaluate(state, 0.0).phase == Phase.ELIGIBLE
    return policy, state


@pytest.mark.parametrize(
    ("path", "value", "code", "words"),
    [
        (vss.DOORS[0], True, "open", "driver door open"),
        (vss.DOORS[1], True, "open", "front passenger door open"),
        (vss.DOORS[2], True, "open", "rear door behind the driver open"),
        (vss.DOORS[3], True, "open", "rear passenger door open"),
        (vss.TRUNK_REAR, True, "open", "trunk open"),
        (vss.TRUNK_FRONT, True, "open", "frunk open"),
        (vss.GEAR, vss.GEAR_DRIVE, "gear", "gear is Drive, not Park"),
        (vss.GEAR, -1, "gear", "gear is Reverse, not Park"),
        (vss.GEAR, 0, "gear", "gear is Neutral, not Park"),
        (vss.SPEED, 0.4, "moving", "moving at 0.4 km/h"),
        (vss.SPEED, -3.0, "moving", "moving at 3.0 km/h"),  # reversing, on some cars
        (vss.DRIVER_SEAT, "OCCUPIED", "seat", "driver seat occupied"),
        (vss.LOW_VOLTAGE_STATE, "ON", "waking", "car waking to drive (power state ON)"),
        (vss.LOW_VOLTAGE_STATE, "START", "waking", "car waking to drive (power state START)"),
    ],
)
def test_each_hard_trigger_stops_work(path: str, value: Value, code: str, words: str) -> None:
    policy, state = admitted()
    state.apply(SignalUpdate(path, value, 0.1))
    decision = policy.evaluate(state, 0.1)
    assert decision.hard_stop_edge
    assert decision.phase == Phase.STOPPING
    assert [(r.code, r.text, r.hard) for r in decision.reasons] == [(code, words, True)]
    # The edge fires once; the stop stays in force while the condition holds.
    again = policy.evaluate(state, 0.2)
    assert not again.hard_stop_edge
    assert not again.accepting


def test_harmless_values_do_not_stop() -> None:
    policy, state = admitted()
    state.apply(SignalUpdate(vss.LOW_VOLTAGE_STATE, "ACC", 0.1))
    state.apply(SignalUpdate(vss.SOC, 90.0, 0.1))
    decision = policy.evaluate(state, 0.1)
    assert decision.phase == Phase.ELIGIBLE
    assert decision.reasons == ()


def test_a_stale_signal_stops_work_at_its_maximum_age() -> None:
    policy, state = admitted()
    fresh_until = 1.0  # every reading was stamped 0.0 with a 1 s maximum age
    for path in PARKED:
        if path != vss.SPEED:
            state.apply(SignalUpdate(path, PARKED[path], 0.9))
    assert policy.evaluate(state, fresh_until).phase == Phase.ELIGIBLE
    decision = policy.evaluate(state, fresh_until + 0.001)
    assert decision.hard_stop_edge
    assert [r.text for r in decision.reasons] == ["speed: stale, no reading within 1 s"]


def test_a_signal_that_never_arrived_is_unknown_and_unsafe() -> None:
    policy = AdmissionPolicy(PolicyConfig(settle_s=0.0))
    state = parked_state(0.0)
    state.declare(vss.HOOD, 1.0)
    config_required = (*PolicyConfig().required_signals, vss.HOOD)
    policy = AdmissionPolicy(PolicyConfig(settle_s=0.0, required_signals=config_required))
    decision = policy.evaluate(state, 0.0)
    assert decision.phase == Phase.NOT_ELIGIBLE
    assert decision.reasons[0].code == "unknown"
    assert "no reading yet" in decision.reasons[0].text


def test_a_value_the_car_reports_as_unknown_is_unsafe() -> None:
    policy, state = admitted()
    state.apply(SignalUpdate(vss.GEAR, None, 0.1))
    decision = policy.evaluate(state, 0.1)
    assert decision.hard_stop_edge
    assert decision.reasons[0].text == "gear: the car reports it as unknown"


def test_a_failed_source_stops_until_it_recovers() -> None:
    policy, state = admitted()
    policy.source_failed("can", "bus error: network down")
    decision = policy.evaluate(state, 0.1)
    assert decision.hard_stop_edge
    assert decision.reasons[0].text == "vehicle source can failed: bus error: network down"
    policy.source_recovered("can")
    policy.stop_acknowledged()
    assert policy.evaluate(state, 0.2).phase == Phase.ELIGIBLE


def test_settle_time_prevents_flapping() -> None:
    policy, state = AdmissionPolicy(PolicyConfig()), parked_state(0.0)
    # Fresh start: nothing is admitted before the 120 s default settle time.
    assert policy.evaluate(state, 0.0).phase == Phase.NOT_ELIGIBLE
    t = 0.0
    phases = []
    # The door opens and closes every 50 s for ten minutes: never 120 s clear, never admitted.
    for cycle in range(12):
        t = cycle * 50.0
        state = parked_state(t, max_age=1000.0, **{vss.DOORS[0]: cycle % 2 == 1})
        for step in range(0, 50, 5):
            phases.append(policy.evaluate(state, t + step).phase)
        policy.stop_acknowledged()
    assert Phase.ELIGIBLE not in phases
    # Then it stays closed: admitted exactly once the 120 s have passed.
    closed_at = 12 * 50.0
    state = parked_state(closed_at, max_age=1000.0)
    assert policy.evaluate(state, closed_at).settle_left_s == pytest.approx(120.0)
    assert policy.evaluate(state, closed_at + 119.9).phase == Phase.NOT_ELIGIBLE
    decision = policy.evaluate(state, closed_at + 120.0)
    assert decision.phase == Phase.ELIGIBLE


def test_settling_reason_text_is_stable_while_counting_down() -> None:
    policy = AdmissionPolicy(PolicyConfig(settle_s=10.0))
    state = parked_state(0.0, max_age=100.0)
    first = policy.evaluate(state, 0.0)
    later = policy.evaluate(state, 5.0)
    assert first.same_as(later)
    assert later.settle_left_s == pytest.approx(5.0)


def test_soft_stops_refuse_new_jobs_but_let_the_current_one_finish() -> None:
    policy, state = admitted()
    policy.set_busy(True)
    assert policy.evaluate(state, 0.1).phase == Phase.SERVING
    policy.set_soft_stop("drain", ["drained by the technician"])
    decision = policy.evaluate(state, 0.2)
    assert decision.phase == Phase.STOPPING
    assert not decision.hard_stop_edge and not decision.accepting
    policy.set_busy(False)
    assert policy.evaluate(state, 0.3).phase == Phase.NOT_ELIGIBLE
    policy.set_soft_stop("drain", [])
    # A soft stop does not restart the settle timer.
    assert policy.evaluate(state, 0.4).phase == Phase.ELIGIBLE


def test_soc_floor_is_a_soft_stop() -> None:
    policy, state = admitted()
    state.apply(SignalUpdate(vss.SOC, 49.5, 0.1))
    decision = policy.evaluate(state, 0.1)
    assert decision.phase == Phase.NOT_ELIGIBLE
    assert not decision.hard_stop_edge
    assert decision.reasons[0].text == "state of charge 49.5 % is below the floor of 50 %"


def test_stopping_lasts_until_the_stop_is_acknowledged() -> None:
    policy, state = admitted()
    state.apply(SignalUpdate(vss.DOORS[0], True, 0.1))
    assert policy.evaluate(state, 0.1).phase == Phase.STOPPING
    assert policy.evaluate(state, 0.2).phase == Phase.STOPPING
    policy.stop_acknowledged()
    assert policy.evaluate(state, 0.3).phase == Phase.NOT_ELIGIBLE
