"""A replay cache whose memory is bounded by the messages' expiry.

A message is remembered (by sender and id) until its own expiry: after that the codec refuses
it as expired anyway, so forgetting it is safe. The envelope limits how far ahead an expiry may
lie, which bounds what the cache holds to (message rate x longest lifetime). As a last resort
`max_entries` caps it: when full, the entry that expires first is forgotten and the cache's
*floor* rises to that expiry, and from then on every message expiring at or before the floor is
refused. So an eviction can only make the cache stricter, never let a replay through.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from .errors import Replayed


@dataclass
class ReplayCache:
    """Remembers accepted ``(sender, id)`` pairs until they expire. Not thread-safe; sync."""

    max_entries: int = 100_000
    floor: float = float("-inf")
    _seen: dict[tuple[str, str], float] = field(default_factory=dict)
    _heap: list[tuple[float, tuple[str, str]]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self._seen)

    def check_and_add(self, sender: str, msg_id: str, expires: float, now: float) -> None:
        """Remember the message, or raise `Replayed` when it was seen (or may have been)."""
        self.prune(now)
        key = (sender, msg_id)
        if key in self._seen:
            raise Replayed(f"message {msg_id!r} from {sender!r} was already received")
        if expires <= self.floor:
            raise Replayed(
                f"message {msg_id!r} from {sender!r} expires before the replay cache's floor "
                "(the cache was full); refused because it cannot be told apart from a replay"
            )
        while len(self._seen) >= self.max_entries:
            exp, old = heapq.heappop(self._heap)
            del self._seen[old]
            self.floor = max(self.floor, exp)
            if expires <= self.floor:
                raise Replayed(f"message {msg_id!r} from {sender!r} expires too soon to track")
        self._seen[key] = expires
        heapq.heappush(self._heap, (expires, key))

    def prune(self, now: float) -> None:
        """Forget every entry that has expired by `now`."""
        while self._heap and self._heap[0][0] < now:
            _, key = heapq.heappop(self._heap)
            del self._seen[key]
