"""The node kinds of a mixed fleet and when each is available: home batteries and docked robots
(the cars' pattern is `uplink.sim.fleet.car_windows`).

Each pattern gives a kind's availability windows, [start, end) per node, and how each window
ends: ``fast_end`` when the dispatcher hears at once (a hard stop reported on a live link, a
window the node itself closes), not when the link dies with it (then only the Will tells).

Home battery (a house's battery inverter on home broadband):

* nights, from ~22:00 (N(22:00, 0.5 h)) to the morning peak at ~06:30 (N(6:30, 0.5 h)), when
  the house needs the battery; on 15 % of nights the battery reaches its backup reserve first
  and the window ends at a uniform point of the night;
* solar surplus on sunny days (each day is sunny for a battery with probability 0.6): from
  ~10:30 (N(10:30, 1 h)) to ~15:00 (N(15:00, 1 h));
* grid outages (Poisson, 0.002 an hour, 10 minutes to 2 hours) remove their span: the
  battery's energy is for the house, and the house's router is down with the grid, so the
  dispatcher hears only by the Will.

Docked robot (on Wi-Fi): tasks arrive as a Poisson stream, 2 an hour from 07:00 to 19:00 and
0.25 an hour at night, and take lognormal ~12 minutes each (a task arriving during another
waits for it); the robot is available while docked between tasks, and each task is a hard stop
reported at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np

HOUR: Final = 3600.0
DAY: Final = 24 * HOUR

KINDS: Final = ("car", "home-battery", "robot")
# The share of each kind's nodes on fast unmetered links (the car's is `FleetParams.fast_share`).
FAST_SHARE: Final = {"home-battery": 0.95, "robot": 0.9}


@dataclass(frozen=True, slots=True)
class Windows:
    """Availability windows of `count` nodes of one kind; owners are 0..count-1."""

    starts: np.ndarray
    ends: np.ndarray
    owners: np.ndarray
    fast_end: np.ndarray


@dataclass(frozen=True, slots=True)
class HomeBatteryPattern:
    """The home battery's knobs (defaults as in the module docstring)."""

    night_start_h: float = 22.0
    night_end_h: float = 6.5
    reserve_share: float = 0.15
    sunny_share: float = 0.6
    solar_start_h: float = 10.5
    solar_end_h: float = 15.0
    outage_rate_h: float = 0.002
    outage_min_s: float = 600.0
    outage_max_s: float = 7200.0


@dataclass(frozen=True, slots=True)
class RobotPattern:
    """The docked robot's knobs (defaults as in the module docstring)."""

    day_task_rate_h: float = 2.0
    night_task_rate_h: float = 0.25
    shift_start_h: float = 7.0
    shift_end_h: float = 19.0
    task_median_s: float = 720.0
    task_sigma: float = 0.5


def parse_mix(text: str) -> tuple[tuple[str, float], ...]:
    """``car=80,home-battery=15,robot=5`` as (kind, weight) pairs in `KINDS` order.

    Raises:
        ValueError: an unknown kind, a kind given twice, a weight that is not a number >= 0,
            or weights that add up to nothing.
    """
    weights: dict[str, float] = {}
    for part in text.split(","):
        kind, sep, value = part.strip().partition("=")
        kind = kind.strip()
        if not sep or kind not in KINDS:
            raise ValueError(
                f"--mix: {part.strip()!r} is not KIND=WEIGHT (kinds: {', '.join(KINDS)})"
            )
        if kind in weights:
            raise ValueError(f"--mix: {kind} is given twice")
        try:
            weight = float(value)
        except ValueError:
            raise ValueError(f"--mix: the weight of {kind} is not a number: {value!r}") from None
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"--mix: the weight of {kind} must be a number >= 0")
        weights[kind] = weight
    if sum(weights.values()) <= 0:
        raise ValueError("--mix: the weights add up to nothing")
    return tuple((kind, weights[kind]) for kind in KINDS if kind in weights)


def mix_counts(mix: tuple[tuple[str, float], ...], nodes: int) -> list[tuple[str, int]]:
    """How many of `nodes` each kind gets (largest remainders, so that they add up)."""
    total = sum(weight for _, weight in mix)
    exact = [nodes * weight / total for _, weight in mix]
    counts = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(mix)), key=lambda i: (counts[i] - exact[i], i))
    for i in by_remainder[: nodes - sum(counts)]:
        counts[i] += 1
    return [(kind, count) for (kind, _), count in zip(mix, counts, strict=True)]


def home_battery_windows(
    count: int, days: int, rng: np.random.Generator, pattern: HomeBatteryPattern
) -> Windows:
    """Nights and solar surplus, less the backup reserve and grid outages."""
    starts, ends, owners = [], [], []
    nodes = np.arange(count)
    for d in range(-1, days):
        base = d * DAY
        night_in = base + rng.normal(pattern.night_start_h, 0.5, count) * HOUR
        night_out = base + DAY + rng.normal(pattern.night_end_h, 0.5, count) * HOUR
        reserve = rng.random(count) < pattern.reserve_share
        cut = night_in + rng.random(count) * (night_out - night_in)
        starts.append(night_in)
        ends.append(np.where(reserve, cut, night_out))
        owners.append(nodes)
        sunny = rng.random(count) < pattern.sunny_share
        solar_in = base + rng.normal(pattern.solar_start_h, 1.0, count) * HOUR
        solar_out = base + rng.normal(pattern.solar_end_h, 1.0, count) * HOUR
        starts.append(solar_in[sunny])
        ends.append(solar_out[sunny])
        owners.append(nodes[sunny])
    s, e, o = np.concatenate(starts), np.concatenate(ends), np.concatenate(owners)
    keep = e > s + 60.0
    s, e, o = s[keep], e[keep], o[keep]
    fast = np.ones(s.size, dtype=bool)  # the night's or the sun's end: the battery says so
    span = (days + 1) * DAY
    outages = rng.poisson(pattern.outage_rate_h * span / HOUR, count)
    who = np.repeat(nodes, outages)
    at = -DAY + rng.random(who.size) * span
    length = rng.uniform(pattern.outage_min_s, pattern.outage_max_s, who.size)
    for node, a, b in zip(who.tolist(), at.tolist(), (at + length).tolist(), strict=True):
        s, e, o, fast = _remove(s, e, o, fast, node, a, b)
    return Windows(s, e, o, fast)


def _remove(
    s: np.ndarray, e: np.ndarray, o: np.ndarray, fast: np.ndarray, node: int, a: float, b: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Remove [a, b) from `node`'s windows (an outage: a window it cuts ends unheard)."""
    hit = (o == node) & (s < b) & (e > a)
    s2 = np.concatenate([s[~hit], s[hit], np.maximum(s[hit], b)])
    e2 = np.concatenate([e[~hit], np.minimum(e[hit], a), e[hit]])
    o2 = np.concatenate([o[~hit], o[hit], o[hit]])
    f2 = np.concatenate([fast[~hit], np.zeros(int(hit.sum()), dtype=bool), fast[hit]])
    keep = e2 > s2 + 1.0
    return s2[keep], e2[keep], o2[keep], f2[keep]


def robot_windows(
    count: int, days: int, rng: np.random.Generator, pattern: RobotPattern
) -> Windows:
    """Docked between tasks: each task (a hard stop, heard at once) ends a window."""
    top = max(pattern.day_task_rate_h, pattern.night_task_rate_h)
    span = (days + 1) * DAY
    # Thinning: candidates at the top rate, each kept with its hour's rate over the top.
    candidates = rng.poisson(top * span / HOUR, count)
    who = np.repeat(np.arange(count), candidates)
    at = -DAY + rng.random(who.size) * span
    hour = np.mod(at, DAY) / HOUR
    rate = np.where(
        (hour >= pattern.shift_start_h) & (hour < pattern.shift_end_h),
        pattern.day_task_rate_h,
        pattern.night_task_rate_h,
    )
    kept = rng.random(who.size) < rate / top
    who, at = who[kept], at[kept]
    length = rng.lognormal(math.log(pattern.task_median_s), pattern.task_sigma, who.size)
    order = np.lexsort((at, who))
    starts: list[float] = []
    ends: list[float] = []
    owners: list[int] = []
    free = dict.fromkeys(range(count), -DAY)  # when each robot is next docked and idle
    for node, a, n in zip(
        who[order].tolist(), at[order].tolist(), length[order].tolist(), strict=True
    ):
        begins = max(a, free[node])  # a task taken while busy waits for the one running
        if begins > free[node] + 1.0:
            starts.append(free[node])
            ends.append(begins)
            owners.append(node)
        free[node] = begins + n
    for node, docked in free.items():
        starts.append(docked)
        ends.append(-DAY + span)
        owners.append(node)
    s, e, o = np.array(starts), np.array(ends), np.array(owners, dtype=np.int64)
    keep = e > s + 1.0  # a robot still on its task at the end has no last window
    return Windows(s[keep], e[keep], o[keep], np.ones(int(keep.sum()), dtype=bool))


def kind_windows(kind: str, count: int, days: int, rng: np.random.Generator) -> Windows:
    """The windows of `count` nodes of the non-car `kind`, with the default pattern.

    Raises:
        ValueError: `kind` is the car (its pattern is `uplink.sim.fleet.car_windows`) or
            unknown.
    """
    if kind == "home-battery":
        return home_battery_windows(count, days, rng, HomeBatteryPattern())
    if kind == "robot":
        return robot_windows(count, days, rng, RobotPattern())
    raise ValueError(f"no availability pattern for {kind!r} here (the car's is in fleet.py)")
