"""The rules of one kind of node: which signals stop work at once, in words a technician reads.

A node kind (a car, a home battery, a docked robot: `supervisor.nodes`) hands the admission
policy a `NodeRules`; the policy adds the failed sources, the settle timer and the soft stops,
the same for every kind. `CarRules` is the car's, and the default.
"""

from __future__ import annotations

from typing import Protocol

from supervisor.vehicle import vss
from supervisor.vehicle.state import VehicleState

from .config import PolicyConfig
from .reasons import Reason
from .vehicle_rules import freshness_reasons, vehicle_reasons


class NodeRules(Protocol):
    """A node kind's hard-stop rules. Pure functions of (state, now); never raise.

    Attributes:
        source_word: how a failed source is named in its reason ("vehicle source can").
        soc_path: the signal the simple floor check reads (until the budget owns the floor).
    """

    source_word: str
    soc_path: str

    def hard_reasons(self, state: VehicleState, now: float, config: PolicyConfig) -> list[Reason]:
        """A hard reason for each required signal unknown or stale and each unsafe reading."""
        ...


class CarRules:
    """The car's rules: closures, gear, speed, seat and power state (`vehicle_rules`), with
    ``[policy] required_signals`` and ``safe_power_states``."""

    source_word = "vehicle"
    soc_path = vss.SOC

    def __init__(self, config: PolicyConfig) -> None:
        # Sets, built once: the rules run for every vehicle frame on the stop path.
        self._required = frozenset(config.required_signals)
        self._safe_power = frozenset(config.safe_power_states)

    def hard_reasons(self, state: VehicleState, now: float, config: PolicyConfig) -> list[Reason]:
        """Freshness of ``required_signals``, then the car's hard-stop rules."""
        hard = freshness_reasons(state, config.required_signals, now)
        hard += vehicle_reasons(state, now, self._required, self._safe_power)
        return hard
