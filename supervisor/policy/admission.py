"""The admission policy: turns the vehicle state and the soft stops into a `Decision`.

Synchronous and deterministic: the caller passes the time. Hard-stop conditions (a closure open,
gear out of Park, speed, driver seat, the car waking, a required signal unknown or stale, a
vehicle source failing) stop work at once and restart the settle timer; the car is admitted
again only after every hard condition has been clear for ``settle_s``, so that a door opened
and closed twice in a minute cannot make the workers flap. Soft stops (the budget, the owner's
floor, a technician's drain) refuse new jobs and let the current one finish; they have their
own hysteresis where they need it (the budget's) and do not restart the settle timer.
"""

from __future__ import annotations

from collections.abc import Sequence

from supervisor.vehicle.state import VehicleState

from .config import PolicyConfig
from .reasons import Decision, Phase, Reason
from .rules import CarRules, NodeRules


class AdmissionPolicy:
    """Decides, at each evaluation, whether the node (the car by default) may compute.

    `rules` are the node kind's hard-stop rules (`supervisor.nodes`); without them, the car's.
    """

    def __init__(self, config: PolicyConfig, rules: NodeRules | None = None) -> None:
        self.config = config
        self.rules: NodeRules = rules if rules is not None else CarRules(config)
        # The simple floor check stands in for the budget until one reports (`use_budget`).
        self.soc_floor: float | None = config.soc_floor_percent
        self._soft: dict[str, tuple[Reason, ...]] = {}
        self._failed_sources: dict[str, str] = {}
        self._clear_since: float | None = None
        self._hard = True  # at start-up nothing is known yet: as if stopped
        self._busy = False
        self._unacknowledged = False
        self.last: Decision | None = None

    # -- inputs ------------------------------------------------------------------------------

    def set_soft_stop(self, source: str, reasons: Sequence[str]) -> None:
        """Replace the soft-stop reasons of `source` ("budget", "owner", "drain", ...)."""
        if reasons:
            self._soft[source] = tuple(Reason(source, text) for text in reasons)
        else:
            self._soft.pop(source, None)

    def use_budget(self) -> None:
        """The thermal budget now owns the battery floor; drop the simple check."""
        self.soc_floor = None

    def source_failed(self, name: str, why: str) -> None:
        """A vehicle source stopped delivering: a hard stop until `source_recovered`."""
        self._failed_sources[name] = why

    def source_recovered(self, name: str) -> None:
        """A vehicle source delivers again."""
        self._failed_sources.pop(name, None)

    def set_busy(self, busy: bool) -> None:
        """Whether a job is running now (SERVING vs ELIGIBLE, STOPPING while it drains)."""
        self._busy = busy

    def stop_acknowledged(self) -> None:
        """Every worker acknowledged (or was killed for) the last hard stop."""
        self._unacknowledged = False

    # -- the decision ------------------------------------------------------------------------

    def evaluate(self, state: VehicleState, now: float) -> Decision:
        """Decide now. Pure apart from the settle timer and the hard-stop edge."""
        hard = [
            Reason("source", f"{self.rules.source_word} source {name} failed: {why}", hard=True)
            for name, why in sorted(self._failed_sources.items())
        ]
        hard += self.rules.hard_reasons(state, now, self.config)
        edge = bool(hard) and not self._hard
        self._hard = bool(hard)
        if hard:
            self._clear_since = None
            if edge:
                self._unacknowledged = True
        elif self._clear_since is None:
            self._clear_since = now

        soft: list[Reason] = [r for reasons in self._soft.values() for r in reasons]
        if self.soc_floor is not None:
            soc = state.value(self.rules.soc_path, now)
            if isinstance(soc, int | float) and soc < self.soc_floor:
                soft.append(
                    Reason(
                        "soc_floor",
                        f"state of charge {soc:.1f} % is below the floor of {self.soc_floor:g} %",
                    )
                )

        settle_left = 0.0
        if self._clear_since is not None:
            settle_left = max(0.0, self.config.settle_s - (now - self._clear_since))
        reasons = hard + soft
        if not hard and settle_left > 0:
            # The countdown lives in `settle_left_s`, not in the text, so that the reasons (and
            # the log line of each change) stay the same while the car settles.
            reasons.append(
                Reason("settling", f"waiting for conditions to hold for {self.config.settle_s:g} s")
            )
        if hard:
            phase = Phase.STOPPING if self._busy or self._unacknowledged else Phase.NOT_ELIGIBLE
        elif reasons:
            phase = Phase.STOPPING if self._busy else Phase.NOT_ELIGIBLE
        else:
            phase = Phase.SERVING if self._busy else Phase.ELIGIBLE
        decision = Decision(phase, tuple(reasons), edge, settle_left, now)
        self.last = decision
        return decision
