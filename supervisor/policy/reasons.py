"""Reasons: why the car is not computing, in words a technician understands."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Phase(enum.StrEnum):
    """Where the car stands with respect to lending its GPU."""

    NOT_ELIGIBLE = "not eligible"
    ELIGIBLE = "eligible"
    SERVING = "serving"
    STOPPING = "stopping"


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason not to compute. `hard` reasons stop work at once; soft ones let a job finish."""

    code: str
    text: str
    hard: bool = False

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class Decision:
    """The policy's verdict at one moment.

    Attributes:
        phase: the current phase.
        reasons: every reason the car is not (or soon not) computing; empty when eligible.
        hard_stop_edge: True only on the evaluation where a hard-stop condition appeared: the
            caller writes the stop flags exactly then.
        settle_left_s: seconds the conditions must still hold before admission.
        at: the monotonic time of the evaluation.
    """

    phase: Phase
    reasons: tuple[Reason, ...]
    hard_stop_edge: bool
    settle_left_s: float
    at: float

    @property
    def accepting(self) -> bool:
        """Whether a new job may start now."""
        return self.phase in (Phase.ELIGIBLE, Phase.SERVING)

    @property
    def hard(self) -> bool:
        """Whether a hard-stop condition holds now."""
        return any(r.hard for r in self.reasons)

    def explain(self) -> str:
        """One line for logs and ``parkmesh why``."""
        if not self.reasons:
            return f"{self.phase}"
        return f"{self.phase}: " + "; ".join(r.text for r in self.reasons)

    def same_as(self, other: Decision | None) -> bool:
        """Whether `other` has the same phase and reasons (used to log each change once)."""
        return other is not None and other.phase == self.phase and other.reasons == self.reasons
