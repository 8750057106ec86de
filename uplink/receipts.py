"""The car's side of a dispatcher ``receipt``: check it against the journal, record it once.

`NodeUplink` calls `take_receipt` for each verified receipt, turns its ValueError into a
``bad_receipt`` refusal, and acknowledges the MQTT message only after `take_receipt` returned
(or raised ValueError: refused for good). The order inside is what makes a receipt reach the
ledger exactly once: the port commits the ledger row first, then the journal notes the receipt
id; a crash before the note leaves the message unacknowledged, the broker delivers it again,
and the port (idempotent per receipt id) sees it again. The journal's lookups run in its worker
thread; the port is called from the trio thread.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Literal

from .journal import Journal
from .node_port import NodePort
from .store import NodeStore

LOG = logging.getLogger("parkmesh.uplink")


async def take_receipt(
    journal: Journal, port: NodePort, body: Mapping[str, Any], now: float
) -> Literal["recorded", "duplicate"]:
    """Record the receipt `body` (checked by `uplink.messages.check_body`) through `port`.

    Returns ``duplicate`` (and calls nothing) for a receipt id recorded before: a
    redelivery after a restart, when the in-memory replay cache no longer knows it.

    Raises:
        ValueError: the journal has no answered job of that id (this car never delivered a
            result for it), or the port refused the receipt (both for good).
        Exception: whatever else the port raises (its ledger could not be written): nothing
            is noted, and the caller must not acknowledge the message.

    Cancellation: a cancelled port call notes nothing; a journal note that has begun finishes.
    """
    job, receipt = str(body["job"]), str(body["receipt"])
    credit, currency = float(body["credit"]), str(body["currency"])
    if await journal.run(NodeStore.has_receipt, receipt):
        LOG.info("receipt %s for job %s recorded before; dropped", receipt, job)
        return "duplicate"
    if await journal.run(NodeStore.state_of, job) != "answered":
        raise ValueError(f"receipt {receipt!r}: job {job!r} was not answered by this car")
    # Returns once the ledger row committed.
    await port.record_receipt(job, receipt, credit, currency)
    # Noted only after the commit: a crash in between redelivers to the port, which is
    # idempotent; noted before it, a crash would drop the redelivery as a duplicate.
    await journal.write(NodeStore.add_receipt, receipt, job, credit, currency, now)
    LOG.info("receipt %s: %s %s for job %s", receipt, credit, currency, job)
    return "recorded"
