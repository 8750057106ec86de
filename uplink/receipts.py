"""The car's side of a dispatcher ``receipt``: check it against the journal, record it once.

`NodeUplink` calls `take_receipt` for each verified receipt and turns its ValueError into a
``bad_receipt`` refusal. The journal's lookups run in its worker thread; the port is called
from the trio thread.
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
            result for it), or the port refused the receipt.
    """
    job, receipt = str(body["job"]), str(body["receipt"])
    credit, currency = float(body["credit"]), str(body["currency"])
    if await journal.run(NodeStore.has_receipt, receipt):
        LOG.info("receipt %s for job %s recorded before; dropped", receipt, job)
        return "duplicate"
    if await journal.run(NodeStore.state_of, job) != "answered":
        raise ValueError(f"receipt {receipt!r}: job {job!r} was not answered by this car")
    port.record_receipt(job, receipt, credit, currency)
    # Noted after the port: a crash in between redelivers to the port, which is idempotent.
    await journal.write(NodeStore.add_receipt, receipt, job, credit, currency, now)
    LOG.info("receipt %s: %s %s for job %s", receipt, credit, currency, job)
    return "recorded"
