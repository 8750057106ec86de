"""The dispatcher's control messages on the car: applied through the port, made to last.

``curtail``, ``drain`` and ``resume`` change state the daemon keeps in memory only (the thermal
budget's windows, the policy's soft stop). So that a restart (a crash, a power cut, an update)
does not forget them, `Controls` notes each in the node's journal after the port applied it and
before the message is acknowledged, and `restore` applies them again at every start: a
curtailment is obeyed for its whole window, a drained car stays drained until ``resume``.
``manifest`` is applied once (the port keeps it on disk); every message is answered with
``control_ack``.

Each handler returns True once the message is settled (applied and noted, or refused for good
by the port's error) so the node acknowledges it; a journal that cannot be written raises.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from .envelope import Message
from .journal import Journal
from .node_port import Curtailment, NodePort
from .node_status import NodeFlags
from .store import NodeStore

LOG = logging.getLogger("parkmesh.uplink")

DRAINED = "drained"

SendAck = Callable[[Message, bool, str], None]


class Controls:
    """Control messages through `port`.

    Args:
        journal: the node's journal (open while the node runs).
        flags: the node's own flags; ``draining`` follows drain and resume.
        send_ack: publishes ``control_ack`` (message, ok, detail).
        on_change: the status may have changed.
    """

    def __init__(
        self,
        port: NodePort,
        *,
        journal: Callable[[], Journal],
        flags: NodeFlags,
        send_ack: SendAck,
        on_change: Callable[[], None],
        clock: Callable[[], float],
    ) -> None:
        self.port = port
        self._journal = journal
        self.flags = flags
        self._send_ack = send_ack
        self._on_change = on_change
        self._clock = clock

    async def restore(self) -> None:
        """Apply again what the journal keeps (windows not over yet, the drain). A window the
        port refuses now is logged and skipped. Raises what the journal raises."""
        journal = self._journal()
        for cid, start, until, power in await journal.run(NodeStore.curtailments, self._clock()):
            try:
                self.port.add_curtailment(Curtailment(cid, start, until, power))
            except ValueError as exc:
                LOG.warning("curtailment %s not restored: %s", cid, exc)
            else:
                LOG.info("curtailment %s restored (%.0f W until %.0f)", cid, power, until)
        if await journal.run(NodeStore.flag, DRAINED):
            self.flags.draining = True
            await self.port.drain()
            LOG.info("still drained by the dispatcher (restored)")
        self._on_change()

    async def curtail(self, msg: Message) -> bool:
        """A demand-response window: into the budget, then into the journal."""
        b = msg.body
        event = Curtailment(b["id"], float(b["start"]), float(b["until"]), float(b["max_power_w"]))

        async def add() -> None:
            self.port.add_curtailment(event)

        async def note() -> None:
            await self._journal().write(
                NodeStore.add_curtailment, event.id, event.start, event.until, event.max_power_w
            )

        return await self._apply(msg, add, note)

    async def drain(self, msg: Message) -> bool:
        """Take no new jobs (lasting until ``resume``)."""
        self.flags.draining = True
        return await self._apply(msg, self.port.drain, self._noted(True))

    async def resume(self, msg: Message) -> bool:
        """Take jobs again."""
        self.flags.draining = False
        return await self._apply(msg, self.port.resume, self._noted(False))

    async def manifest(self, msg: Message) -> bool:
        """A signed model manifest, verified and installed by the port."""

        async def install() -> None:
            self.port.update_manifest(msg.body["name"], msg.body["document"])

        return await self._apply(msg, install, None)

    def _noted(self, drained: bool) -> Callable[[], Awaitable[None]]:
        async def note() -> None:
            await self._journal().write(NodeStore.set_flag, DRAINED, drained)

        return note

    async def _apply(
        self,
        msg: Message,
        apply: Callable[[], Awaitable[None]],
        note: Callable[[], Awaitable[None]] | None,
    ) -> bool:
        try:
            await apply()
        except Exception as exc:
            # The port refuses bad control input for good, with its own errors (ValueError,
            # ManifestError...): answered ok=false, settled, nothing noted.
            LOG.warning("%s %s refused: %s", msg.type, msg.id, exc)
            self._send_ack(msg, False, str(exc))
        else:
            # Noted after the port applied it: a crash in between redelivers the message (not
            # acknowledged yet) and the port is idempotent. The journal's errors propagate.
            if note is not None:
                await note()
            self._send_ack(msg, True, "")
        self._on_change()
        return True
