"""Enforcing the allowed power: the GPU's power limit where permitted, else a duty cycle.

NVML may set the board's power limit only for root (or CAP_SYS_ADMIN); a refusal is remembered
so the daemon does not ask again every second. Where the limit is set, the workers may run
flat out (duty cycle 1); where the allowed power is below the board's lowest limit, the limit
goes to that lowest value and the workers duty-cycle the rest. Without NVML the workers
duty-cycle alone: they run a share `duty_cycle` of the time at full speed.
"""

from __future__ import annotations

import dataclasses

from .decision import BudgetDecision
from .nvml import NvmlDevice, NvmlError

# Do not re-set the limit for changes smaller than this, W (sensor noise moves allowed_w).
LIMIT_STEP_W = 5.0


class PowerCapper:
    """Applies decisions to the GPU; `restore` puts the board's default limit back."""

    def __init__(self, device: NvmlDevice | None) -> None:
        self.device = device
        self.permitted = device is not None
        self.last_error: str | None = None
        self._set_w: float | None = None

    def apply(self, decision: BudgetDecision) -> BudgetDecision:
        """Enforce `decision`; returns it with `cap_method` and `duty_cycle` as enforced.

        Never raises: a refused or failed NVML call falls back to the duty cycle.
        """
        if self.device is None or not self.permitted or decision.allowed_w <= 0:
            return decision
        try:
            lo, hi = self.device.power_limit_range_w()
            limit = min(hi, max(lo, decision.allowed_w))
            if self._set_w is None or abs(limit - self._set_w) >= LIMIT_STEP_W:
                self.device.set_power_limit_w(limit)
                self._set_w = limit
        except NvmlError as exc:
            self.last_error = str(exc)
            if exc.permission:
                self.permitted = False
            return decision
        return dataclasses.replace(
            decision, cap_method="nvml", duty_cycle=min(1.0, decision.allowed_w / limit)
        )

    def restore(self) -> None:
        """Put the board's default limit back if this capper changed it. Never raises."""
        if self.device is None or self._set_w is None:
            return
        try:
            self.device.set_power_limit_w(self.device.default_power_limit_w())
            self._set_w = None
        except NvmlError as exc:
            self.last_error = str(exc)
