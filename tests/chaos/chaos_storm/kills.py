"""The promise that a job is answered exactly once and credited exactly once, whatever moment
the daemon dies at: SIGKILLs at random and at the worst moments of a job."""

from __future__ import annotations

import trio

from .storm import StormBase


class KillFaults(StormBase):
    """SIGKILLs of the daemon (restarted at once, as systemd would)."""

    async def sigkill_random(self) -> None:
        """A kill at any moment: warming up, idle, mid-job, mid-write."""
        await trio.sleep(self.rng.uniform(0.2, 6.0))
        self.kill_daemon("sigkill_random")

    async def sigkill_mid_job(self) -> None:
        """A kill while the worker computes (the car accepted the job moments ago)."""
        seen = await self.moment("sigkill_mid_job", "accept")
        await trio.sleep(self.rng.uniform(0.02, 0.4))
        self.kill_daemon("sigkill_mid_job", seen.job if seen else "")

    async def sigkill_after_result(self) -> None:
        """A kill the instant the result went out (its PUBACK and the ledger in flight)."""
        seen = await self.moment("sigkill_after_result", "result")
        self.kill_daemon("sigkill_after_result", seen.job if seen else "")

    async def sigkill_after_receipt(self) -> None:
        """A kill the instant the receipt came in (its ledger row and PUBACK in flight)."""
        seen = await self.moment("sigkill_after_receipt", "receipt")
        # The car got it when the probe did: strike while it writes the credit down.
        await trio.sleep(self.rng.uniform(0.0, 0.005))
        self.kill_daemon(
            "sigkill_after_receipt",
            seen.job if seen else "",
            str(seen.body.get("receipt", "")) if seen else "",
        )
