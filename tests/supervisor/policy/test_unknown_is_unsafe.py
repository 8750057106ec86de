"""Unknown is unsafe: every enum rule admits compute only for the values known to be safe.

One test per rule with a value that is not known to be safe (the VSS vocabulary's own UNKNOWN
and UNDEFINED, and values a newer car or a wrong mapping may produce), plus the rule signals
that are not required: heard from once, they stop work when they turn unknown or stale.
"""

from __future__ import annotations

import pytest

from supervisor.config.errors import ConfigError
from supervisor.config.load import parse_config
from supervisor.policy import AdmissionPolicy, Phase, PolicyConfig
from supervisor.vehicle import vss
from supervisor.vehicle.state import SignalUpdate, Value, VehicleState
from tests.supervisor.policy.test_admission import admitted, parked_state


def _hard_reasons_after(path: str, value: Value | None) -> list[tuple[str, str]]:
    policy, state = admitted()
    state.apply(SignalUpdate(path, value, 0.1))
    decision = policy.evaluate(state, 0.1)
    assert decision.hard_stop_edge
    assert not decision.accepting
    assert all(r.hard for r in decision.reasons)
    return [(r.code, r.text) for r in decision.reasons]


def test_seat_unknown_is_not_empty() -> None:
    assert _hard_reasons_after(vss.DRIVER_SEAT, "UNKNOWN") == [
        ("unknown", "driver seat occupancy is 'UNKNOWN', not known to be empty")
    ]


def test_seat_value_outside_the_vocabulary_is_not_empty() -> None:
    # A mapping with free keys (DBus) could deliver a string VSS does not define.
    assert _hard_reasons_after(vss.DRIVER_SEAT, "CHILD_SEAT") == [
        ("unknown", "driver seat occupancy is 'CHILD_SEAT', not known to be empty")
    ]


def test_power_state_undefined_is_not_parked() -> None:
    assert _hard_reasons_after(vss.LOW_VOLTAGE_STATE, "UNDEFINED") == [
        ("unknown", "low-voltage power state is 'UNDEFINED', not known to be safe")
    ]


def test_power_state_the_config_does_not_list_stops_work() -> None:
    policy = AdmissionPolicy(PolicyConfig(settle_s=0.0, safe_power_states=("OFF",)))
    state = parked_state(0.0)
    assert policy.evaluate(state, 0.0).phase == Phase.ELIGIBLE
    state.apply(SignalUpdate(vss.LOW_VOLTAGE_STATE, "ACC", 0.1))
    decision = policy.evaluate(state, 0.1)
    assert decision.hard_stop_edge
    assert [r.text for r in decision.reasons] == [
        "low-voltage power state is 'ACC', not known to be safe"
    ]


def test_every_default_safe_power_state_admits() -> None:
    for power in ("OFF", "LOCK", "ACC"):
        policy = AdmissionPolicy(PolicyConfig(settle_s=0.0))
        state = parked_state(0.0, **{vss.LOW_VOLTAGE_STATE: power})
        assert policy.evaluate(state, 0.0).reasons == (), power


def test_the_config_refuses_a_driving_power_state_as_safe() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config('[policy]\nsafe_power_states = ["OFF", "ON"]\n')
    assert info.value.key == "policy.safe_power_states"
    assert "must be one of 'LOCK', 'OFF', 'ACC', not 'ON'" in str(info.value)


def test_power_state_unknown_to_the_mapping_stops_work() -> None:
    # The power state is not a required signal: once heard from, a raw value the mapping does
    # not list (None) must not count as parked.
    assert vss.LOW_VOLTAGE_STATE not in PolicyConfig().required_signals
    assert _hard_reasons_after(vss.LOW_VOLTAGE_STATE, None) == [
        ("unknown", "low-voltage power state: the car reports it as unknown")
    ]


def test_power_state_gone_stale_stops_work() -> None:
    policy, state = admitted()
    for path, value in parked_state(0.0).snapshot().items():
        if path != vss.LOW_VOLTAGE_STATE and value is not None:
            state.apply(SignalUpdate(path, value, 1.0))
    decision = policy.evaluate(state, 1.5)
    assert decision.hard_stop_edge
    assert [(r.code, r.text) for r in decision.reasons] == [
        ("stale", "low-voltage power state: stale, no reading within 1 s")
    ]


def test_a_gear_that_is_not_park_stops_work() -> None:
    # 125 is no VSS gear at all: only 126 is Park.
    assert _hard_reasons_after(vss.GEAR, 125) == [("gear", "gear is gear 125, not Park")]


def test_a_gear_of_the_wrong_type_is_not_park() -> None:
    assert _hard_reasons_after(vss.GEAR, "P") == [("unknown", "gear is 'P', not known to be Park")]


def test_a_closure_that_reports_neither_open_nor_closed_stops_work() -> None:
    assert _hard_reasons_after(vss.DOORS[0], "AJAR") == [
        ("unknown", "driver door is 'AJAR', not known to be closed")
    ]


def test_an_optional_closure_heard_from_then_unknown_stops_work() -> None:
    # The hood is not required (not every car reports it), but once reported it is checked.
    policy, state = admitted()
    state.apply(SignalUpdate(vss.HOOD, False, 0.05))
    assert policy.evaluate(state, 0.05).phase == Phase.ELIGIBLE
    assert _reasons(policy, state, vss.HOOD, None) == [
        ("unknown", "hood: the car reports it as unknown")
    ]


def test_park_lock_not_engaged_or_unknown_stops_work() -> None:
    assert _hard_reasons_after(vss.PARK_LOCK, False) == [("gear", "park lock not engaged")]
    policy, state = admitted()
    state.apply(SignalUpdate(vss.PARK_LOCK, True, 0.05))
    assert policy.evaluate(state, 0.05).phase == Phase.ELIGIBLE
    assert _reasons(policy, state, vss.PARK_LOCK, None) == [
        ("unknown", "park lock: the car reports it as unknown")
    ]


def test_required_signals_are_reported_once() -> None:
    # The seat is required: an unknown seat is the freshness rule's reason, not twice.
    assert _hard_reasons_after(vss.DRIVER_SEAT, None) == [
        ("unknown", "driver seat: the car reports it as unknown")
    ]


def _reasons(
    policy: AdmissionPolicy, state: VehicleState, path: str, value: Value | None
) -> list[tuple[str, str]]:
    state.apply(SignalUpdate(path, value, 0.1))
    decision = policy.evaluate(state, 0.1)
    assert decision.hard_stop_edge
    return [(r.code, r.text) for r in decision.reasons]
