"""The node's journal and outbox (`uplink.store.NodeStore`), used from trio without blocking it.

Every call runs in a worker thread, one at a time. sqlite with ``synchronous=FULL`` waits for
the disk at each commit (a fraction of a millisecond on this VM, several on a car's eMMC), and
the trio thread also carries the hot path, where a door-open frame must never wait for a disk.
A call that has begun finishes even if its caller is cancelled (trio's threads are not
abandoned), so no answer is ever half written.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

import trio

from .store import NodeStore

P = ParamSpec("P")
T = TypeVar("T")


class Journal:
    """A `NodeStore` behind a lock and a worker thread.

    Attributes:
        counts: rows per journal state and the outbox length, as of the last `write` (for
            status screens, which must not wait for the disk).
    """

    def __init__(self, store: NodeStore) -> None:
        self._store = store
        self._lock = trio.Lock()
        self.counts: dict[str, int] = {}

    @classmethod
    async def open(cls, path: Path | str) -> Journal:
        """Open (or create) the file; raises `sqlite3.Error` or `OSError` when it cannot."""
        journal = cls(await trio.to_thread.run_sync(NodeStore, path))
        try:
            journal.counts = await journal.run(NodeStore.counts)
        except BaseException:
            journal._store.close()
            raise
        return journal

    async def run(
        self, method: Callable[Concatenate[NodeStore, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """``method(store, *args, **kwargs)`` in the worker thread, for a read; returns its
        result.

        Cancellation: a call that has started is waited for (it is one short query).
        """
        return await self._call(lambda: method(self._store, *args, **kwargs))

    async def write(
        self, method: Callable[Concatenate[NodeStore, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`run` for a change: `counts` is read again in the same call.

        Cancellation: a call that has started is waited for (it is one short transaction).
        """

        def call() -> tuple[T, dict[str, int]]:
            return method(self._store, *args, **kwargs), self._store.counts()

        result, self.counts = await self._call(call)
        return result

    async def _call(self, call: Callable[[], T]) -> T:
        async with self._lock:
            return await trio.to_thread.run_sync(call)

    async def aclose(self) -> None:
        """Close the file, after the call in progress."""
        async with self._lock:
            await trio.to_thread.run_sync(self._store.close)
