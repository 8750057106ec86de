"""The promise that a SIGTERM is prompt and complete: the daemon is out within its grace
(+1 s) with the job it was running answered, acknowledged and in the ledger."""

from __future__ import annotations

import trio

from .storm import StormBase


class ShutdownFaults(StormBase):
    """SIGTERMs of the daemon mid-job (the check is `StormBase.sigterm`'s)."""

    async def sigterm_mid_job(self) -> None:
        """SIGTERM mid-job: out within the grace (+1 s), the job answered, acknowledged by the
        broker and in the ledger by then."""
        step = "sigterm_mid_job"
        seen = await self.moment(step, "accept")
        await trio.sleep(self.rng.uniform(0.02, 0.3))
        await self.sigterm(step, seen.job if seen else "")
