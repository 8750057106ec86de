"""A discrete-event simulation of a fleet serving jobs with redundancy k (no network).

Cars (numpy, vectorised over the fleet):

* each day a car parks at home in the evening (arrival ~ N(18:30, 1.5 h)) until the morning
  (departure ~ N(7:30, 1 h)); 40 % also park at a workplace charger from ~9:00 to ~17:00;
* while parked, door openings (Poisson, 0.3 an hour) pause it for 1-5 minutes (a hard stop)
  and early drive-aways (Poisson, 0.05 an hour) end the stay;
* a neighbourhood curtailment takes 10 % of the cars out from 17:00 to 19:00;
* 70 % sit on fast unmetered links (interactive tier, ~30 ms to the dispatcher), the rest on
  cellular (batch only, ~300 ms).

Jobs arrive as a Poisson stream; 40 % are interactive (deadline 30 s, run ~1.5 s) and 60 %
batch (deadline 1 h, run ~60 s), lognormal run times. A job goes to k idle cars of its tier
chosen at random; because a car's availability is known in advance, each copy's fate is
decided when it is placed: it finishes if the car stays available long enough, else it is
pre-empted when the car goes. The first copy to finish wins and the others are cancelled one
link delay later; if every copy fails the job is placed again (events in a heap) until its
deadline. Reported per k: completion (finished by the deadline), p50 and p99 latency (arrival
to first result, finished jobs) and wasted (share of car-seconds spent on copies that did not
win, pre-empted or cancelled).

A mixed fleet (`FleetParams.mix`, ``parkmesh simulate-fleet --mix car=80,home-battery=15,
robot=5``) holds home batteries and docked robots beside the cars, each kind with its own
availability (`uplink.sim.kinds`), and each row then says per kind how many copies its nodes
ran, won and lost to a stop, and how much of their compute was wasted.
"""

from __future__ import annotations

import bisect
import heapq
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .kinds import FAST_SHARE, Windows, kind_windows, mix_counts

HOUR = 3600.0
DAY = 24 * HOUR
WILL_DELAY_S = 30.0
KEY_SCALE = 1e8  # larger than any time in the simulation (a few days, from -1 day)


@dataclass(frozen=True, slots=True)
class FleetParams:
    """Knobs of the simulation (defaults as in the module docstring)."""

    nodes: int = 1000
    hours: float = 24.0
    jobs_per_node_hour: float = 0.05
    interactive_share: float = 0.4
    door_rate_h: float = 0.3
    driveaway_rate_h: float = 0.05
    work_share: float = 0.4
    curtail_share: float = 0.1
    fast_share: float = 0.7
    seed: int = 1
    # (kind, weight) pairs (`kinds.parse_mix`); None: every node is a car.
    mix: tuple[tuple[str, float], ...] | None = None


class Fleet:
    """Availability windows of every node: CSR arrays of [start, end) per node.

    Attributes:
        kinds: (kind, count) of a mixed fleet, its nodes numbered in that order; None when
            every node is a car.
        kind_list: each node's index into `kinds` (0 for every car of a car-only fleet).
    """

    def __init__(self, p: FleetParams) -> None:
        rng = np.random.default_rng(p.seed)
        n, days = p.nodes, math.ceil(p.hours / 24.0) + 1
        self.kinds: list[tuple[str, int]] | None = None
        fast_share: float | np.ndarray = p.fast_share
        kind_of = np.zeros(n, dtype=np.int64)
        if p.mix is None:
            w = car_windows(p, n, days, rng)
        else:
            self.kinds = mix_counts(p.mix, n)
            parts, offset = [], 0
            for kind, count in self.kinds:
                part = (
                    car_windows(p, count, days, rng)
                    if kind == "car"
                    else kind_windows(kind, count, days, rng)
                )
                parts.append(Windows(part.starts, part.ends, part.owners + offset, part.fast_end))
                offset += count
            w = Windows(*(np.concatenate([getattr(x, f) for x in parts]) for f in _FIELDS))
            kind_of = np.repeat(np.arange(len(self.kinds)), [c for _, c in self.kinds])
            shares = [p.fast_share if k == "car" else FAST_SHARE[k] for k, _ in self.kinds]
            fast_share = np.array(shares)[kind_of]
        s, e, o, fast_end = w.starts, w.ends, w.owners, w.fast_end
        order = np.lexsort((s, o))
        self.starts, self.ends, self._owner = s[order], e[order], o[order]
        # How a window ends decides how soon the dispatcher hears: a hard stop or curtailment
        # is reported at once; a drive-away drops the link and shows only by the Will.
        self.fast_end = fast_end[order]
        # One sorted key per window, (owner, start), so a lookup is one bisection.
        self.keys_list: list[float] = (self._owner * KEY_SCALE + self.starts).tolist()
        self.owner_list = self._owner.tolist()
        self.starts_list, self.ends_list = self.starts.tolist(), self.ends.tolist()
        self.fast_end_list = self.fast_end.tolist()
        self.fast = rng.random(n) < fast_share
        self.rtt = np.where(self.fast, rng.uniform(0.01, 0.05, n), rng.uniform(0.15, 0.6, n))
        self.kind_list: list[int] = kind_of.tolist()

    def kind_summary(self, hours: float) -> dict[str, dict[str, Any]]:
        """Per kind of a mixed fleet, over the simulated [0, hours): its nodes, its windows,
        the share of node-time available, the median window and the hard stops heard at once
        (a task, a door) per node and day. Empty for a car-only fleet."""
        horizon = hours * HOUR
        kind_of = np.asarray(self.kind_list)[self._owner]
        clipped = np.clip(self.ends, 0, horizon) - np.clip(self.starts, 0, horizon)
        summary = {}
        for index, (kind, count) in enumerate(self.kinds or []):
            mine = (kind_of == index) & (clipped > 0)
            ended = mine & (self.ends < horizon)
            summary[kind] = {
                "nodes": count,
                "windows": int(mine.sum()),
                "available_share": round(float(clipped[mine].sum()) / (count * horizon), 4)
                if count
                else 0.0,
                "median_window_min": round(float(np.median(clipped[mine])) / 60, 1)
                if mine.any()
                else None,
                "ends_heard_at_once": round(float(self.fast_end[ended].mean()), 4)
                if ended.any()
                else None,
            }
        return summary


_FIELDS = ("starts", "ends", "owners", "fast_end")


def car_windows(p: FleetParams, n: int, days: int, rng: np.random.Generator) -> Windows:
    """The cars' pattern (the module docstring): home at night, 40 % at work, drive-aways,
    door openings and the evening curtailment."""
    starts, ends, owners = [], [], []
    for d in range(-1, days):
        base = d * DAY
        home_in = base + rng.normal(18.5, 1.5, n) * HOUR
        home_out = base + DAY + rng.normal(7.5, 1.0, n) * HOUR
        starts.append(home_in)
        ends.append(home_out)
        owners.append(np.arange(n))
        work = rng.random(n) < p.work_share
        w_in = base + rng.normal(9.0, 0.5, n) * HOUR
        w_out = base + rng.normal(17.0, 0.7, n) * HOUR
        starts.append(w_in[work])
        ends.append(w_out[work])
        owners.append(np.nonzero(work)[0])
    s, e, o = np.concatenate(starts), np.concatenate(ends), np.concatenate(owners)
    # Early drive-aways cut a stay short.
    leave = s + rng.exponential(HOUR / p.driveaway_rate_h, s.size)
    e = np.minimum(e, leave)
    keep = e > s + 60.0
    s, e, o = s[keep], e[keep], o[keep]
    fast_end = np.zeros(s.size, dtype=bool)
    # Door openings split stays: each opening removes a 1-5 minute gap.
    s, e, o, fast_end = _split_by_doors(s, e, o, fast_end, p.door_rate_h, rng)
    # Curtailment: some cars out from 17:00 to 19:00 each day.
    curtailed = rng.random(n) < p.curtail_share
    for d in range(days):
        s, e, o, fast_end = _cut(
            s, e, o, fast_end, curtailed, d * DAY + 17 * HOUR, d * DAY + 19 * HOUR
        )
    return Windows(s, e, o, fast_end)


def _split_by_doors(
    s: np.ndarray,
    e: np.ndarray,
    o: np.ndarray,
    fast: np.ndarray,
    rate_h: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each door opening at a (gap g) turns [s, e) into [s, a) and [a + g, e)."""
    counts = rng.poisson((e - s) / HOUR * rate_h)
    idx = np.repeat(np.arange(s.size), counts)
    at = s[idx] + rng.random(idx.size) * (e - s)[idx]
    gap = rng.uniform(60.0, 300.0, idx.size)
    stay = np.arange(s.size)
    starts, start_owner = np.concatenate([s, at + gap]), np.concatenate([stay, idx])
    ends, end_owner = np.concatenate([at, e]), np.concatenate([idx, stay])
    end_fast = np.concatenate([np.ones(idx.size, dtype=bool), fast])
    so = np.lexsort((starts, start_owner))
    eo = np.lexsort((ends, end_owner))
    # Each stay has as many starts as ends; paired by rank they are its pieces (a piece
    # swallowed by overlapping openings comes out empty and is dropped).
    ps, pe, owner, pf = starts[so], ends[eo], start_owner[so], end_fast[eo]
    keep = pe > ps + 1.0
    return ps[keep], pe[keep], o[owner[keep]], pf[keep]


def _cut(
    s: np.ndarray,
    e: np.ndarray,
    o: np.ndarray,
    fast: np.ndarray,
    who: np.ndarray,
    a: float,
    b: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Remove [a, b) from the windows of the cars in `who` (a curtailment)."""
    hit = who[o] & (s < b) & (e > a)
    s2 = np.concatenate([s[~hit], s[hit], np.maximum(s[hit], b)])
    e2 = np.concatenate([e[~hit], np.minimum(e[hit], a), e[hit]])
    o2 = np.concatenate([o[~hit], o[hit], o[hit]])
    f2 = np.concatenate([fast[~hit], np.ones(int(hit.sum()), dtype=bool), fast[hit]])
    keep = e2 > s2 + 1.0
    return s2[keep], e2[keep], o2[keep], f2[keep]


def simulate(p: FleetParams, k: int, fleet: Fleet | None = None) -> dict[str, Any]:
    """Run the job stream against the fleet with redundancy `k`; one row of results."""
    fleet = fleet or Fleet(p)
    rng = np.random.default_rng(p.seed + 1)  # the same job stream for every k
    horizon = p.hours * HOUR
    n_jobs = int(rng.poisson(p.jobs_per_node_hour * p.nodes * p.hours))
    arrivals = np.sort(rng.random(n_jobs) * horizon)
    interactive = rng.random(n_jobs) < p.interactive_share
    run = np.where(
        interactive,
        rng.lognormal(math.log(1.5), 0.5, n_jobs),
        rng.lognormal(math.log(60.0), 0.7, n_jobs),
    )
    deadline = arrivals + np.where(interactive, 30.0, HOUR)
    heap: list[tuple[float, int]] = [(float(t), i) for i, t in enumerate(arrivals)]
    heapq.heapify(heap)
    done_at = np.full(n_jobs, np.nan)
    used = wasted = 0.0
    # The loop is plain Python over lists: with a handful of cars per job, numpy's per-call
    # overhead would dominate. Window lookups are bisections on one sorted key list.
    keys, owner = fleet.keys_list, fleet.owner_list
    w_start, w_end, w_fast = fleet.starts_list, fleet.ends_list, fleet.fast_end_list
    rtt, busy = fleet.rtt.tolist(), [0.0] * p.nodes
    # Per kind: [copies, wins, preempted, node-seconds used, node-seconds wasted].
    kind_of = fleet.kind_list
    tally = [[0.0] * 5 for _ in fleet.kinds or [("car", p.nodes)]]
    all_nodes, fast_nodes = list(range(p.nodes)), np.nonzero(fleet.fast)[0].tolist()
    runs, deadlines, inter = run.tolist(), deadline.tolist(), interactive.tolist()
    draws = rng.random(max(1024, 8 * n_jobs)).tolist()
    d = 0
    tries = 4 * k + 8
    while heap:
        t, j = heapq.heappop(heap)
        if t >= deadlines[j]:
            continue
        pool = fast_nodes if inter[j] else all_nodes
        chosen: list[tuple[int, float, bool]] = []
        seen: set[int] = set()
        for _ in range(tries):
            node = pool[int(draws[d] * len(pool))]
            d = d + 1 if d + 1 < len(draws) else 0
            if node in seen or busy[node] > t:
                continue
            seen.add(node)
            w = bisect.bisect_right(keys, node * KEY_SCALE + t) - 1
            if w >= 0 and owner[w] == node and w_start[w] <= t < w_end[w]:
                chosen.append((node, w_end[w] - t, w_fast[w]))
                if len(chosen) == k:
                    break
        if not chosen:
            heapq.heappush(heap, (t + 5.0, j))
            continue
        r = runs[j]
        best = math.inf
        winner = -1
        for node, left, _ in chosen:
            finish = t + rtt[node] + r
            if finish <= t + left and finish < best:
                best, winner = finish, node
        if winner >= 0:
            for node, left, _ in chosen:
                start = t + rtt[node]
                stop = best if node == winner else min(t + left, best + rtt[node])
                spent = max(0.0, stop - start)
                used += spent
                mine = tally[kind_of[node]]
                mine[0] += 1
                mine[3] += spent
                if node != winner:
                    wasted += spent
                    mine[4] += spent
                    if t + left < best + rtt[node]:
                        mine[2] += 1  # its window ended first: pre-empted, not cancelled
                else:
                    mine[1] += 1
                busy[node] = stop
            answer = best + rtt[winner]
            if answer <= deadlines[j]:
                done_at[j] = answer
        else:
            heard = math.inf
            for node, left, fast_end in chosen:
                stop = t + left
                spent = max(0.0, stop - t - rtt[node])
                used += spent
                wasted += spent
                mine = tally[kind_of[node]]
                mine[0] += 1
                mine[2] += 1
                mine[3] += spent
                mine[4] += spent
                busy[node] = stop
                # A hard stop is reported one link delay later; a drive-away shows only when
                # the Will fires.
                heard = min(heard, stop + (rtt[node] if fast_end else WILL_DELAY_S))
            heapq.heappush(heap, (heard, j))
    ok_jobs = ~np.isnan(done_at)
    latency = (done_at - arrivals)[ok_jobs]
    lat_i = (done_at - arrivals)[ok_jobs & interactive]
    row: dict[str, Any] = {
        "k": k,
        "jobs": n_jobs,
        "completion": round(float(ok_jobs.mean()) if n_jobs else 0.0, 5),
        "p50_s": _pct(latency, 50),
        "p99_s": _pct(latency, 99),
        "wasted": round(wasted / used, 4) if used else 0.0,
        "interactive_completion": round(float(ok_jobs[interactive].mean()), 5)
        if interactive.any()
        else None,
        "interactive_p99_s": _pct(lat_i, 99),
    }
    if fleet.kinds is not None:
        row["by_kind"] = {
            kind: {
                "copies": int(copies),
                "wins": int(wins),
                "preempted": int(preempted),
                "compute_h": round(spent / HOUR, 3),
                "wasted": round(lost / spent, 4) if spent else 0.0,
            }
            for (kind, _), (copies, wins, preempted, spent, lost) in zip(
                fleet.kinds, tally, strict=True
            )
        }
    return row


def _pct(values: np.ndarray, q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values.size else None
