"""The ledger's entries: what is recorded, how it is validated, and how it is hashed.

Three kinds of entry, all append-only:

``job``
    one job that ended, with its ids, model, times, outcome, the energy it used and how that was
    measured, the owner's tariff at the time, and the credit from the dispatcher's receipt
    (0 and no ``receipt_id`` when the receipt has not come yet).
``receipt``
    a dispatcher's receipt that came after its job was recorded (``job_id``, ``receipt_id``,
    ``credit``).
``payout``
    money paid to the owner for one month of credits (``payout_id``, ``month``, ``credit``).

Each entry's hash covers every column and the previous entry's hash, so editing, inserting or
deleting a row breaks the chain at that row (`chain_hash`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Literal

Kind = Literal["job", "receipt", "payout"]
Outcome = Literal["ok", "failed", "preempted", "cancelled"]
OUTCOMES: tuple[str, ...] = ("ok", "failed", "preempted", "cancelled")
# How the energy figure was obtained, from the best to the roughest.
ENERGY_METHODS: tuple[str, ...] = ("charger-meter", "nvml-energy", "nvml-power", "rapl", "estimate")
GENESIS_HASH = "0" * 64
MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class LedgerError(ValueError):
    """Bad input to the ledger; the message names the field."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of the ledger. Fields a kind does not use are None.

    Times are ISO 8601 in UTC (``2026-11-27T03:00:00+00:00``); months are ``YYYY-MM`` in UTC.
    Energy is in watt-hours, the tariff in currency per kWh, credits in the dispatcher's
    currency.
    """

    kind: Kind
    recorded_at: str
    job_id: str | None = None
    request_id: str | None = None
    model: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    outcome: str | None = None
    energy_wh: float | None = None
    energy_method: str | None = None
    tariff_per_kwh: float | None = None
    credit: float = 0.0
    receipt_id: str | None = None
    payout_id: str | None = None
    month: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The entry as a plain mapping (JSON-ready), in field order."""
        # Every field is a scalar: a shallow mapping is what `dataclasses.asdict` gives,
        # without its deep copies (the hash of every row written goes through here).
        return {name: getattr(self, name) for name in _FIELD_NAMES}

    @property
    def duration_s(self) -> float:
        """Compute time of a job entry in seconds (0 for other kinds)."""
        if self.started_at is None or self.ended_at is None:
            return 0.0
        return (
            parse_time(self.ended_at, "ended_at") - parse_time(self.started_at, "started_at")
        ).total_seconds()


_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Entry))


def now_iso() -> str:
    """The current time as the ledger writes it."""
    return datetime.now(UTC).isoformat()


def parse_time(text: str, name: str) -> datetime:
    """Parse an ISO 8601 time with a zone, as UTC.

    Raises:
        LedgerError: naming `name` when the text is not such a time.
    """
    try:
        value = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise LedgerError(f"{name}: not an ISO 8601 time: {text!r}") from None
    if value.tzinfo is None:
        raise LedgerError(f"{name}: needs a time zone (…+00:00): {text!r}")
    return value.astimezone(UTC)


def parse_month(text: str) -> tuple[int, int]:
    """``YYYY-MM`` -> (year, month).

    Raises:
        LedgerError: when the text is not a month.
    """
    match = MONTH_RE.match(text)
    if not match:
        raise LedgerError(f"month: expected YYYY-MM, not {text!r}")
    return int(match.group(1)), int(match.group(2))


def month_of(time_text: str) -> str:
    """The ``YYYY-MM`` (UTC) a time falls in."""
    return parse_time(time_text, "time").strftime("%Y-%m")


def validate(entry: Entry) -> None:
    """Check an entry before it is appended.

    Raises:
        LedgerError: naming the first bad field.
    """
    parse_time(entry.recorded_at, "recorded_at")
    if entry.kind == "job":
        _require_text(entry.job_id, "job_id")
        _require_text(entry.model, "model")
        started = parse_time(_require_text(entry.started_at, "started_at"), "started_at")
        ended = parse_time(_require_text(entry.ended_at, "ended_at"), "ended_at")
        if ended < started:
            raise LedgerError("ended_at: is before started_at")
        if entry.outcome not in OUTCOMES:
            raise LedgerError(
                f"outcome: must be one of {', '.join(OUTCOMES)}, not {entry.outcome!r}"
            )
        _require_number(entry.energy_wh, "energy_wh")
        if entry.energy_method not in ENERGY_METHODS:
            raise LedgerError(
                f"energy_method: must be one of {', '.join(ENERGY_METHODS)}, "
                f"not {entry.energy_method!r}"
            )
        _require_number(entry.tariff_per_kwh, "tariff_per_kwh")
    elif entry.kind == "receipt":
        _require_text(entry.job_id, "job_id")
        _require_text(entry.receipt_id, "receipt_id")
    elif entry.kind == "payout":
        _require_text(entry.payout_id, "payout_id")
        parse_month(_require_text(entry.month, "month"))
    else:
        raise LedgerError(f"kind: must be job, receipt or payout, not {entry.kind!r}")
    _require_number(entry.credit, "credit")


def chain_hash(prev_hash: str, seq: int, entry: Entry) -> str:
    """SHA-256 over the previous hash, the sequence number and every field of `entry`."""
    canonical = json.dumps(
        [prev_hash, seq, entry.as_dict()], sort_keys=True, separators=(",", ":"), allow_nan=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _require_text(value: str | None, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise LedgerError(f"{name}: is required")
    return value


def _require_number(value: float | None, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LedgerError(f"{name}: must be a number, not {value!r}")
    if value != value or value < 0 or value == float("inf"):
        raise LedgerError(f"{name}: must be a finite number >= 0, not {value!r}")
    return float(value)
