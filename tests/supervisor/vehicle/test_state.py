"""The vehicle state and the VSS catalogue, without an event loop."""

from __future__ import annotations

import math

import pytest

from supervisor.vehicle import vss
from supervisor.vehicle.state import SignalUpdate, VehicleState


def test_apply_reports_what_the_state_learned() -> None:
    state = VehicleState()
    state.declare(vss.SPEED, 1.0)
    assert state.apply(SignalUpdate(vss.SPEED, 0.0, 0.0))  # first reading
    assert not state.apply(SignalUpdate(vss.SPEED, 0.0, 0.5))  # a plain refresh
    assert state.apply(SignalUpdate(vss.SPEED, 4.0, 0.6))  # a new value
    # The same value after the signal went stale: known again, which is news.
    assert state.value(vss.SPEED, 1.7) is None
    assert state.apply(SignalUpdate(vss.SPEED, 4.0, 1.7))
    assert state.value(vss.SPEED, 1.7) == 4.0


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused(value: float) -> None:
    with pytest.raises(ValueError, match=r"Vehicle\.Speed is float"):
        vss.lookup(vss.SPEED).coerce(value)


def test_numbers_are_coerced_to_the_signal_type() -> None:
    assert vss.lookup(vss.SPEED).coerce(3) == 3.0
    with pytest.raises(ValueError, match="got True"):
        vss.lookup(vss.SPEED).coerce(True)
