"""In-flight markers: the ledger's note of a job that is on a worker and has no row yet.

The daemon commits a marker before a job reaches a worker, refreshes it (energy so far, last
seen) at most once a second while the job runs, and deletes it in the transaction that writes
the job's row. A marker left in the file means the daemon stopped (crash, power cut, a stop
that outran its grace) while the job ran: at the next start `marker_entry` turns it into the
job's one row, outcome ``failed``, ended when the marker was last seen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from .entries import Entry, now_iso

# How a recovered row's energy was obtained when the marker had measured none: the power the
# budget allowed when the marker was last written, over [start, last seen].
RECOVERED_METHOD = "estimate"


@dataclass(frozen=True, slots=True)
class Marker:
    """One job on a worker, as last committed.

    Attributes:
        job_id, model: the job.
        started_s: when the job was handed to its worker (unix seconds).
        last_seen_s: when the marker was last written (the job was running then).
        power_w: the compute power the budget allowed then, W.
        energy_j: the energy the job had used by `last_seen_s`, J (0 before the first refresh).
        energy_method: how `energy_j` was measured, as the ledger names it (``nvml-energy``).
    """

    job_id: str
    model: str
    started_s: float
    last_seen_s: float
    power_w: float
    energy_j: float = 0.0
    energy_method: str = RECOVERED_METHOD


def marker_entry(marker: Marker, tariff_per_kwh: float, recorded_at: str | None = None) -> Entry:
    """The ``failed`` job row that a leftover marker becomes.

    Energy: what the marker had measured by its last refresh, with its method; if it had
    measured nothing yet, the allowed power over [start, last seen] (``estimate``).
    """
    seconds = max(0.0, marker.last_seen_s - marker.started_s)
    if marker.energy_j > 0:
        joules, method = marker.energy_j, marker.energy_method
    else:
        power = marker.power_w if math.isfinite(marker.power_w) else 0.0
        joules, method = max(0.0, power) * seconds, RECOVERED_METHOD
    return job_entry(
        marker.job_id,
        marker.model,
        marker.started_s,
        marker.started_s + seconds,
        "failed",
        joules,
        method,
        tariff_per_kwh,
        recorded_at,
    )


def job_entry(
    job_id: str,
    model: str,
    started_s: float,
    ended_s: float,
    outcome: str,
    energy_j: float,
    energy_method: str,
    tariff_per_kwh: float,
    recorded_at: str | None = None,
) -> Entry:
    """A ``job`` row, as every path that writes one builds it (a finished job, a leftover
    marker, a job interrupted before it had one): times in unix seconds, energy in joules."""
    return Entry(
        kind="job",
        recorded_at=recorded_at or now_iso(),
        job_id=job_id,
        request_id=job_id,
        model=model,
        started_at=iso_s(started_s),
        ended_at=iso_s(max(started_s, ended_s)),
        outcome=outcome,
        energy_wh=round(energy_j / 3600.0, 6),
        energy_method=energy_method,
        tariff_per_kwh=tariff_per_kwh,
    )


def iso_s(t: float) -> str:
    """Unix seconds as the ledger writes times (ISO 8601, UTC, microseconds kept)."""
    return datetime.fromtimestamp(t, UTC).isoformat()
