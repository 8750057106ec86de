"""Keeping an optional service up: the DBus API and the uplink may fail without the car caring."""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import trio

LOG = logging.getLogger("parkmesh")

# Back-off between restarts of an optional service: quick for a glitch, slow for an outage.
RETRY_INITIAL_S = 1.0
RETRY_MAX_S = 30.0
# A service that ran this long before it failed starts again after the short delay.
HEALTHY_AFTER_S = 60.0

ServiceRun = Callable[..., Awaitable[Any]]


def describe(exc: BaseException) -> str:
    """The innermost errors of `exc`, unwrapping nursery exception groups, as one line."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe(inner) for inner in exc.exceptions)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def keep_running(
    name: str,
    make_run: Callable[[], ServiceRun],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run ``make_run()`` as a started service; when it fails, log why and start it again.

    Only for optional services: a failure of the vehicle source, the policy or the budget must
    crash the daemon (systemd restarts it), whereas a lost DBus API or broker only costs a
    surface or the uplink. `task_status.started()` is called after the first start attempt,
    whether it succeeded or not, so that the daemon's start-up never waits on an outage.

    Cancellation: cancels the service.
    """
    delay = RETRY_INITIAL_S
    reported = False
    while True:
        started_at: float | None = None
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(make_run())
                started_at = trio.current_time()
                if not reported:
                    reported = True
                    task_status.started()
        except Exception as exc:
            why = f"failed: {describe(exc)}"
        else:
            why = "stopped"
        # Only a service that served a while earns the short delay again: one that fails
        # right after each start keeps backing off.
        if started_at is not None and trio.current_time() - started_at >= HEALTHY_AFTER_S:
            delay = RETRY_INITIAL_S
        LOG.error("%s %s; starting it again in %.0f s", name, why, delay)
        if not reported:
            reported = True
            task_status.started()
        await trio.sleep(delay * random.uniform(0.8, 1.2))
        delay = min(delay * 2, RETRY_MAX_S)
