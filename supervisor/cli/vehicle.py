"""``parkmesh vehicle replay``: decode a candump log through a mapping, print the VSS state."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from supervisor.cli.output import print_json, print_table


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``parkmesh vehicle``."""
    parser = sub.add_parser("vehicle", help="check vehicle signal mappings against real data")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    replay = actions.add_parser(
        "replay", help="decode a candump log through a DBC and mapping; print the final state"
    )
    replay.add_argument("--dbc", type=Path, required=True, help="DBC file")
    replay.add_argument("--mapping", type=Path, required=True, help="VSS mapping file")
    replay.add_argument("--log", type=Path, required=True, help="candump -l log")
    replay.add_argument("--json", action="store_true", help="print JSON")
    replay.set_defaults(func=_replay)


def _replay(args: argparse.Namespace) -> int:
    from supervisor.vehicle.can_decoder import FrameDecoder
    from supervisor.vehicle.replay import decode_log, read_log
    from supervisor.vehicle.state import VehicleState

    decoder = FrameDecoder.load(args.dbc, args.mapping)
    state = VehicleState()
    for _, updates in decode_log(decoder, read_log(args.log)):
        state.apply_all(updates)
    values = state.snapshot()
    stats = decoder.stats
    if args.json:
        print_json(
            {
                "signals": values,
                "frames": stats.frames,
                "decoded": stats.decoded,
                "unknown_ids": stats.unknown_ids,
                "malformed": stats.malformed,
                "unmapped_values": stats.unmapped_values,
                "out_of_range": stats.out_of_range,
                "ignored": stats.ignored,
                "missing": sorted(decoder.mapping.paths - set(values)),
            }
        )
    else:
        print_table({path: "unknown" if v is None else v for path, v in values.items()})
        print(
            f"\n{stats.frames} frames, {stats.decoded} decoded, {stats.unknown_ids} unmapped ids,"
            f" {stats.malformed} malformed"
        )
    return 0
