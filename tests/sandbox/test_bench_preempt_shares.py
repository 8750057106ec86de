"""`bench preempt` spreads its stops so that every scenario has some, however few."""

from __future__ import annotations

import pytest

from sandbox.bench.preempt import stop_shares


@pytest.mark.parametrize("stops", [3, 4, 5, 7, 200, 201])
def test_every_scenario_gets_a_stop_and_the_shares_add_up(stops: int) -> None:
    shares = stop_shares(stops)
    assert len(shares) == 3 and sum(shares) == stops and min(shares) >= 1


def test_the_default_keeps_its_split() -> None:
    assert stop_shares(200) == [100, 50, 50]


def test_fewer_stops_than_scenarios_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 3 stops"):
        stop_shares(2)
