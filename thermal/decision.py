"""What the budget decides: the compute power allowed now, for how long, and why."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# Decisions closer than these are "the same" for listeners: a sensor's noise must not make the
# daemon re-log and re-apply the cap every second.
SAME_POWER_W = 10.0
SAME_SHARE = 0.01


@dataclass(frozen=True, slots=True)
class BudgetDecision:
    """The budget's answer at one moment.

    Attributes:
        allowed_w: compute power allowed now, W (0: none; a soft stop for the policy).
        runway_s: how long compute at `allowed_w` may go on before a limit binds (math.inf:
            no limit in sight; 0 when nothing is allowed).
        derating: the share of nominal power the temperatures allow, 0..1.
        reasons: every limit that applies, in words (no live values, so they change only when
            the situation does).
        binding: short ids of the limits that hold `allowed_w` below nominal: "on_battery",
            "floor", "departure", "soc_unknown", "compute_hours", "curtailment",
            "temperature:<sensor>".
        duty_cycle: the share of time workers run at full speed to stay within `allowed_w`
            when the GPU power limit cannot be set (0..1).
        runway_limit: the limit that ends the runway ("floor", "departure", "curtailment",
            "compute_hours"), None when none does.
        cap_method: how the cap is enforced: "duty_cycle" or "nvml" (set by the service).
    """

    allowed_w: float
    runway_s: float
    derating: float
    reasons: tuple[str, ...]
    binding: tuple[str, ...]
    duty_cycle: float = 1.0
    runway_limit: str | None = None
    cap_method: str = "duty_cycle"

    @property
    def stopped(self) -> bool:
        """Whether no compute is allowed (a soft stop)."""
        return self.allowed_w <= 0.0

    def same_as(self, other: BudgetDecision | None) -> bool:
        """Whether listeners need not hear about this decision after `other` (runway ignored)."""
        return (
            other is not None
            and (self.allowed_w > 0) == (other.allowed_w > 0)
            and abs(self.allowed_w - other.allowed_w) < SAME_POWER_W
            and abs(self.derating - other.derating) < SAME_SHARE
            and abs(self.duty_cycle - other.duty_cycle) < SAME_SHARE
            and self.reasons == other.reasons
            and self.binding == other.binding
            and self.cap_method == other.cap_method
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; an unlimited runway is null."""
        return {
            "allowed_w": round(self.allowed_w, 3),
            "runway_s": None if math.isinf(self.runway_s) else round(self.runway_s, 3),
            "derating": round(self.derating, 4),
            "duty_cycle": round(self.duty_cycle, 4),
            "reasons": list(self.reasons),
            "binding": list(self.binding),
            "runway_limit": self.runway_limit,
            "cap_method": self.cap_method,
        }
