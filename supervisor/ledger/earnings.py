"""Earnings kept incrementally: what the daemon shows (today, this month, unpaid) without
re-reading the ledger after every write.

`EarningsTally` is seeded from the ledger's SQL sums (`Ledger.earnings_sums`) when the daemon
starts (and again when the UTC day changes, which also picks up payouts written by another
process), then told what each write changed: a job row's credit, a late receipt's change to
its job's credit, a payout. Each change is filed under the UTC day and month its job ended
(a payout under its month), so a figure is right for whatever day the view is asked for, as
long as every write since the seed was told.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from .entries import parse_time

_ROUND = 6  # decimals shown, as the statements round


@dataclass(frozen=True, slots=True)
class CreditChange:
    """What one ledger write changed in the credits: `delta` for the job that ended at
    `ended_at` (ISO 8601), or a payout of `delta` for `payout_month`."""

    delta: float
    ended_at: str | None = None
    payout_month: str | None = None


@dataclass(frozen=True, slots=True)
class EarningsSums:
    """The ledger's sums for one UTC day and its month, as SQL computed them."""

    day: str  # YYYY-MM-DD
    month: str  # YYYY-MM
    today: float
    accrued: float
    paid: float


def day_and_month(now: datetime) -> tuple[str, str]:
    """The UTC day (``YYYY-MM-DD``) and month (``YYYY-MM``) of `now`."""
    utc = now.astimezone(UTC)
    return utc.strftime("%Y-%m-%d"), utc.strftime("%Y-%m")


class EarningsTally:
    """Credits by day and month since a seed; synchronous, owned by one trio task."""

    def __init__(self, currency: str) -> None:
        self.currency = currency
        self.seeded_day: str | None = None
        self._by_day: dict[str, float] = {}
        self._by_month: dict[str, float] = {}
        self._paid: dict[str, float] = {}

    def seed(self, sums: EarningsSums) -> None:
        """Start again from the ledger's sums (everything told before is forgotten)."""
        self.seeded_day = sums.day
        self._by_day = {sums.day: sums.today}
        self._by_month = {sums.month: sums.accrued}
        self._paid = {sums.month: sums.paid}

    def stale(self, now: datetime) -> bool:
        """Whether the UTC day changed since the seed (time to seed again)."""
        return self.seeded_day != day_and_month(now)[0]

    def apply(self, change: CreditChange) -> None:
        """Count what a write that just committed changed."""
        if change.payout_month is not None:
            self._paid[change.payout_month] = (
                self._paid.get(change.payout_month, 0.0) + change.delta
            )
            return
        if change.ended_at is None:
            return
        day, month = day_and_month(parse_time(change.ended_at, "ended_at"))
        self._by_day[day] = self._by_day.get(day, 0.0) + change.delta
        self._by_month[month] = self._by_month.get(month, 0.0) + change.delta

    def view(self, now: datetime) -> dict[str, float | str]:
        """Credits of the jobs that ended on `now`'s UTC day and month, and the month's unpaid
        credits: the keys of `supervisor.ledger.statement.earnings`."""
        day, month = day_and_month(now)
        accrued = self._by_month.get(month, 0.0)
        return {
            "currency": self.currency,
            "today": round(self._by_day.get(day, 0.0), _ROUND),
            "month": round(accrued, _ROUND),
            "pending": round(max(accrued - self._paid.get(month, 0.0), 0.0), _ROUND),
        }
