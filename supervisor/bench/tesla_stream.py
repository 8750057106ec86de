"""A mixed Tesla Model 3 bus stream for throughput measurements, encoded with cantools."""

from __future__ import annotations

import random
from pathlib import Path

import cantools
import cantools.database


def model3_stream(
    dbc: Path, frame_ids: frozenset[int], count: int, seed: int
) -> list[tuple[int, bytes]]:
    """`count` frames of the mapped Model 3 messages, weighted by cycle time, random values.

    Every signal gets a random raw value within its range, so choices, SNA codes and
    multiplexed variants all occur, as on a real bus.
    """
    rng = random.Random(seed)
    db = cantools.database.load_file(str(dbc), strict=False)
    assert isinstance(db, cantools.database.can.Database)
    messages = [db.get_message_by_frame_id(fid) for fid in sorted(frame_ids)]
    weights = [1000 / (m.cycle_time or 100) for m in messages]
    pool: dict[int, list[bytes]] = {}
    for message in messages:
        payloads: list[bytes] = []
        while len(payloads) < 64:
            data = rng.randbytes(message.length)
            try:
                message.decode(data)
            except Exception:
                continue
            payloads.append(data)
        pool[message.frame_id] = payloads
    chosen = rng.choices(messages, weights=weights, k=count)
    return [(m.frame_id, rng.choice(pool[m.frame_id])) for m in chosen]
