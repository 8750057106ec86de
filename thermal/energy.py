"""The energy rules: how long compute may go on before the floor or the next departure binds.

The model, shared by the budget and by ``parkmesh simulate-night``: the battery holds `e` kWh.
While plugged in and charging, the charger delivers `charge_kw` at the inlet and compute (plus
the host baseline, together `load_kw`) draws from it first, so the battery gains
``charge_kw - load_kw`` (a negative figure drains it). Not charging, ``charge_kw`` is 0.

The plan behind the runway is "compute now, then charge only": compute may go on for `r`
hours as long as (a) the battery never falls below the floor and (b) charging alone afterwards
still brings it to the departure target by ``departure - margin`` and keeps it there. With a
constant charger the runway is a budget of compute time that charging alone neither grows nor
shrinks, so compute never flaps at the departure boundary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

HOUR_S = 3600.0


@dataclass(frozen=True, slots=True)
class EnergyPicture:
    """The inputs of the energy rules, in kWh, kW and seconds.

    Attributes:
        soc_percent: state of charge now.
        capacity_kwh: usable capacity.
        charge_kw: charger power at the inlet (0 when not charging).
        load_kw: compute plus host baseline while computing.
        floor_percent: the owner's floor.
        departure_in_s: seconds to the next departure; None when none is scheduled.
        target_percent: state of charge wanted at that departure.
        margin_s: each target must be reached this long before its departure.
        later: the departures after the next one, as (seconds from now, target percent): if
            the car stays, tomorrow's departure counts too.
    """

    soc_percent: float
    capacity_kwh: float
    charge_kw: float
    load_kw: float
    floor_percent: float
    departure_in_s: float | None = None
    target_percent: float = 0.0
    margin_s: float = 0.0
    later: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True, slots=True)
class EnergyVerdict:
    """How long compute may go on (s, math.inf: no energy limit) and what ends it.

    `departure_in_s` is the departure that ends it (when `limit` is "departure"), and
    `reachable_without_compute` says whether its target could be met by charging alone.
    """

    runway_s: float
    limit: str | None  # "floor", "departure" or None
    reachable_without_compute: bool
    departure_in_s: float | None = None


def energy_runway(p: EnergyPicture) -> EnergyVerdict:
    """Apply the energy rules to `p` (see the module docstring).

    For each departure at `t` with target `E` and window ``T = t - margin``: computing for `r`
    hours and then charging leaves ``e0 + charge*T - load*r`` at T (a full battery only stops
    charging once it is above any target), so compute must end by
    ``r1 = (e0 + charge*T - E) / load``. If ``r1 >= T`` even computing all the way meets that
    target, and that departure sets no limit (compute past it counts against the next one).
    The same rule with ``T = t`` keeps the target at the departure itself: inside the margin
    the window above is empty, yet compute must not draw the battery below the target.
    """
    cap = p.capacity_kwh
    e0 = p.soc_percent / 100.0 * cap
    gain = p.charge_kw - p.load_kw  # kW into the battery while computing
    floor_h = math.inf if gain >= 0 else max(0.0, (e0 - p.floor_percent / 100.0 * cap) / -gain)

    departures = list(p.later)
    if p.departure_in_s is not None:
        departures.insert(0, (p.departure_in_s, p.target_percent))
    best_h, best_at, reachable = math.inf, None, True
    for at_s, target_percent in departures:
        target = target_percent / 100.0 * cap
        # The target is due at the margin, and must still hold at the departure itself (in
        # the margin, compute drawing more than the charger gives would eat into it).
        for window_s in (max(0.0, at_s - p.margin_s), at_s):
            window_h = window_s / HOUR_S
            r1 = (e0 + p.charge_kw * window_h - target) / p.load_kw if p.load_kw > 0 else math.inf
            # Compared clamped, so that of several departures that allow no compute at all
            # the soonest is the one named.
            if r1 < window_h and max(0.0, r1) < best_h:
                best_h, best_at = max(0.0, r1), at_s
                reachable = e0 + p.charge_kw * at_s / HOUR_S >= target - 1e-9

    if best_h <= floor_h and best_at is not None:
        return EnergyVerdict(best_h * HOUR_S, "departure", reachable, best_at)
    if not math.isinf(floor_h):
        return EnergyVerdict(floor_h * HOUR_S, "floor", True)
    return EnergyVerdict(math.inf, None, True)


def project_soc(
    p: EnergyPicture, compute_s: float, step_s: float = 900.0, max_points: int = 200
) -> list[tuple[float, float]]:
    """The state of charge over time if compute runs `compute_s` seconds, then charging only.

    Returns (seconds from now, percent) pairs up to the departure (or 24 h without one),
    clamped to 0..100 %.
    """
    horizon = p.departure_in_s if p.departure_in_s is not None else 24 * HOUR_S
    horizon = max(0.0, horizon)
    step = max(step_s, horizon / max(1, max_points - 1))
    points: list[tuple[float, float]] = []
    t = 0.0
    while True:
        computing = min(t, compute_s)
        kwh = (
            p.soc_percent / 100.0 * p.capacity_kwh
            + p.charge_kw * t / HOUR_S
            - p.load_kw * computing / HOUR_S
        )
        points.append((t, min(100.0, max(0.0, kwh / p.capacity_kwh * 100.0))))
        if t >= horizon:
            return points
        t = min(horizon, t + step)
