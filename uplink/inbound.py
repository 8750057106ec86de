"""Inbound messages on the car: opened off the hot path, admitted once, acknowledged when done.

`Deliveries` sits between the MQTT client (manual acknowledgement) and the node's handlers;
`deliver` does all of the following for one message:

* **Opening.** A payload above `OFF_THREAD_BYTES` is verified and decoded (Ed25519, strict
  CBOR) in a worker thread (`trio.to_thread.run_sync`): an offer of a few MB takes tens of ms
  to open, which the loop must not spend (docs/stop-path.md). The codec's `Opener` is pure apart
  from the replay cache, so the node's `Opener` has none: `admit` checks and fills the cache
  afterwards, on the trio thread, in the order messages arrived.
* **Admission.** A message is `NEW` (apply it), a replay (`admit` raises `Replayed`: its id
  was applied to the end before, in this process: refused and acknowledged), or `IN_PROGRESS`
  (the broker delivered it again, flagged DUP, on a new connection, while its first delivery
  is still being applied): a task waits for the first to settle and then delivers it again.
  Because the acknowledgement follows durability, the first delivery of a redelivered message
  may not be over yet; refusing and acknowledging the redelivery then would lose the message
  if the process died before the first one's effect committed.
* **Settling.** `settle(msg, done=True)` once the message's effect is durable or it was
  refused for good (it is acknowledged); `done=False` when applying it failed without an
  effect (not acknowledged): a later delivery of the same id is then applied anew instead of
  being refused as a replay.

The replay cache lives in memory; across a restart the journal (job ids, receipt ids) and the
port's idempotency (curtailment ids) recognise a redelivery. `admit` and `settle` are
synchronous; use everything from the trio thread.
"""

from __future__ import annotations

import enum
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection
from typing import Final

import trio

from .client import Inbound
from .envelope import Message, Opener
from .errors import EnvelopeError, Replayed
from .replay import ReplayCache

LOG = logging.getLogger("parkmesh.uplink")

OFF_THREAD_BYTES: Final = 16 * 1024

Key = tuple[str, str]


class Admission(enum.Enum):
    """What to do with an opened message."""

    NEW = "new"
    IN_PROGRESS = "in_progress"


class Deliveries:
    """The node's inbound bookkeeping (see the module docstring).

    Args:
        opener: the codec for this node, built with ``replay=None``.
        replay: the replay cache `admit` checks and fills.
        ack: acknowledges a delivery (`uplink.client.MqttClient.ack`).
        refused: where refusals are counted, per error code.
        background: message types applied in a task of their own rather than in the caller's
            (their effect waits on something slow, such as a ledger commit, that the messages
            behind them must not wait for: a cancel, a curtailment).
        off_thread_bytes: payloads longer than this are opened in a worker thread.
    """

    def __init__(
        self,
        opener: Opener,
        replay: ReplayCache,
        *,
        ack: Callable[[Inbound], None],
        refused: Counter[str],
        background: Collection[str] = (),
        off_thread_bytes: int = OFF_THREAD_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if opener.replay is not None:
            raise ValueError("Deliveries checks the replay cache itself: give the Opener none")
        self.opener = opener
        self.replay = replay
        self.off_thread_bytes = off_thread_bytes
        self.opened_off_thread = 0  # how many payloads were opened in a worker thread
        self.waited = 0  # redeliveries that waited for their first delivery to settle
        self._ack = ack
        self.refused = refused
        self.background = frozenset(background)
        self._clock = clock
        self._active: dict[Key, trio.Event] = {}
        self._retry: set[Key] = set()

    async def deliver(
        self,
        inbound: Inbound,
        apply: Callable[[Message], Awaitable[bool]],
        nursery: trio.Nursery,
    ) -> Message | None:
        """Open and admit `inbound`, `apply` it, and acknowledge it when `apply` says its
        effect is durable (or that it refused it for good).

        A refused message (the codec's error, a replay) is logged, counted and acknowledged:
        the same bytes would be refused again. A redelivery of a message still being applied
        is settled by a task in `nursery` once the first delivery is over, and None returned;
        so is a message of a `background` type, applied in a task in `nursery`. When `apply`
        returns False or raises, the message is not acknowledged (the broker delivers it again
        on the next connection) and a later delivery is applied anew. Returns the applied
        message. Raises what `apply` raises (in `nursery` for a background one).
        """
        try:
            msg = await self.open(inbound.payload)
            admission = self.admit(msg)
        except EnvelopeError as exc:
            self.refused[exc.code] += 1
            if isinstance(exc, Replayed) and inbound.dup:
                LOG.info("redelivery on %s, handled before: %s", inbound.topic, exc)
            else:
                # The text is the codec's: untrusted parts in it are already bounded
                # (`uplink.untrusted.shown`); the cut is a last bound on the log line.
                LOG.warning(
                    "refused message on %s (%s): %s", inbound.topic, exc.code, str(exc)[:400]
                )
            self._ack(inbound)
            return None
        if admission is Admission.IN_PROGRESS:
            self.waited += 1
            nursery.start_soon(self._redelivered, inbound, msg, apply, nursery)
            return None
        if msg.type in self.background:
            nursery.start_soon(self._apply, inbound, msg, apply)
            return None
        await self._apply(inbound, msg, apply)
        return msg

    async def _apply(
        self, inbound: Inbound, msg: Message, apply: Callable[[Message], Awaitable[bool]]
    ) -> None:
        done = False
        try:
            done = await apply(msg)
        finally:
            self.settle(msg, done=done)
        if done:
            self._ack(inbound)

    async def _redelivered(
        self,
        inbound: Inbound,
        msg: Message,
        apply: Callable[[Message], Awaitable[bool]],
        nursery: trio.Nursery,
    ) -> None:
        # Once the first delivery is over, this one is a replay (acknowledged) or, the first
        # having failed without an effect, applied anew.
        await self.settled(msg)
        await self.deliver(inbound, apply, nursery)

    async def open(self, payload: bytes) -> Message:
        """Verify and decode `payload` (in a worker thread when it is large).

        Raises:
            EnvelopeError: the codec's refusal (never `Replayed`: see `admit`).

        Cancellation: a thread that has begun is waited for (it is pure; nothing changes).
        """
        if len(payload) <= self.off_thread_bytes:
            return self.opener.open(payload)
        self.opened_off_thread += 1
        return await trio.to_thread.run_sync(self.opener.open, payload)

    def admit(self, msg: Message) -> Admission:
        """Whether `msg` is to be handled now; a `NEW` one is remembered and active until
        `settle`.

        Raises:
            Replayed: its id was admitted and settled before (or, the cache being full, it
                cannot be told from a replay): refused for good.
        """
        key = (msg.src, msg.id)
        if key in self._active:
            return Admission.IN_PROGRESS
        if key in self._retry:
            # Its first delivery failed without an effect: this one is handled anew (the id is
            # still in the replay cache from then).
            self._retry.discard(key)
        else:
            self.replay.check_and_add(msg.src, msg.id, msg.exp, self._clock())
        self._active[key] = trio.Event()
        return Admission.NEW

    async def settled(self, msg: Message) -> None:
        """Return once the delivery of `msg` in progress is settled (at once when none is)."""
        event = self._active.get((msg.src, msg.id))
        if event is not None:
            await event.wait()

    def settle(self, msg: Message, *, done: bool) -> None:
        """The handling of an admitted `msg` is over: `done` when its effect is durable or it
        was refused for good (acknowledge it), else a later delivery is handled anew."""
        key = (msg.src, msg.id)
        event = self._active.pop(key, None)
        if not done:
            self._retry.add(key)
        if event is not None:
            event.set()
