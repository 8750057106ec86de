"""``parkmesh simulate-fleet``: completion, latency and waste of redundancy k = 1..4.

``--mix car=80,home-battery=15,robot=5`` simulates a mixed fleet (`uplink.sim.kinds`) and adds
each kind's availability and its share of the work; without it the output is the car fleet's.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from supervisor.cli.output import print_json, print_table


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``parkmesh simulate-fleet``."""
    parser = sub.add_parser(
        "simulate-fleet", help="discrete-event simulation of a fleet with churn (no network)"
    )
    parser.add_argument("--nodes", type=int, default=1000, help="cars (default 1000)")
    parser.add_argument("--hours", type=float, default=24.0, help="simulated hours (default 24)")
    parser.add_argument(
        "--redundancy",
        type=int,
        default=4,
        help="largest k: rows are printed for k = 1..K (default 4)",
    )
    parser.add_argument(
        "--jobs-per-node-hour",
        type=float,
        default=0.05,
        help="job arrival rate per car and hour (default 0.05)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--mix",
        default=None,
        metavar="KIND=WEIGHT,...",
        help="a mixed fleet, e.g. car=80,home-battery=15,robot=5 (default: cars only)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from uplink.sim.fleet import Fleet, FleetParams, simulate
    from uplink.sim.kinds import parse_mix

    if (
        args.nodes < 1
        or args.hours <= 0
        or not 1 <= args.redundancy <= 8
        or args.jobs_per_node_hour <= 0
    ):
        print(
            "parkmesh: --nodes >= 1, --hours > 0, --redundancy 1..8 and "
            "--jobs-per-node-hour > 0 are required",
            file=sys.stderr,
        )
        return 2
    try:
        mix = parse_mix(args.mix) if args.mix is not None else None
    except ValueError as exc:
        print(f"parkmesh: {exc}", file=sys.stderr)
        return 2
    params = FleetParams(
        nodes=args.nodes,
        hours=args.hours,
        jobs_per_node_hour=args.jobs_per_node_hour,
        seed=args.seed,
        mix=mix,
    )
    t0 = time.perf_counter()
    fleet = Fleet(params)
    rows = [simulate(params, k, fleet) for k in range(1, args.redundancy + 1)]
    elapsed = time.perf_counter() - t0
    kinds = fleet.kind_summary(args.hours)
    if args.json:
        out: dict[str, Any] = {
            "nodes": args.nodes,
            "hours": args.hours,
            "windows": len(fleet.starts_list),
            "elapsed_s": round(elapsed, 2),
            "rows": rows,
        }
        if fleet.kinds is not None:
            out["mix"] = dict(fleet.kinds)
            out["kinds"] = kinds
        print_json(out)
        return 0
    if fleet.kinds is None:
        fleet_text = f"{args.nodes} cars"
    else:
        counts = ", ".join(_count(kind, count) for kind, count in fleet.kinds)
        fleet_text = f"{args.nodes} nodes ({counts})"
    print(f"{fleet_text}, {args.hours:g} h, {rows[0]['jobs']} jobs, {elapsed:.1f} s")
    for kind, facts in kinds.items():
        print(
            f"  {kind}: available {facts['available_share']:.1%} of the time, "
            f"{facts['windows']} windows, median {facts['median_window_min']} min"
        )
    for row in rows:
        print_table(
            {
                f"k={row['k']}": f"completion {row['completion']:.4%}  p50 {row['p50_s']} s"
                f"  p99 {row['p99_s']} s  wasted {row['wasted']:.1%}"
            }
        )
        for kind, share in row.get("by_kind", {}).items():
            print(
                f"  {kind}: wins {share['wins']}, pre-empted {share['preempted']} of "
                f"{share['copies']} copies, wasted {share['wasted']:.1%}"
            )
    return 0


# How each kind is counted in the heading ("240 cars, 45 home batteries, 15 robots").
PLURALS = {"car": "cars", "home-battery": "home batteries", "robot": "robots"}


def _count(kind: str, count: int) -> str:
    return f"{count} {PLURALS.get(kind, kind) if count != 1 else kind.replace('-', ' ')}"
