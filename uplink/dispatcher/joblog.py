"""The dispatcher's job log: one line per step of a job, in words an operator reads.

Logger ``parkmesh.dispatcher.jobs`` (``parkmesh dispatcher`` shows it on its stderr). The steps:
the quote (which cars were picked, by id), each offer (job, model, tier, k, car), each car's
answer (accepted, failed or declined and why), the car that streams a streamed job, the winner,
each cancel (to whom, why) and the outcome (done in N ms by car X, or failed and why), with the
chunks forwarded for a streamed job (and those dropped: from another car, or too late). Only
logging: nothing here raises for a job the core no longer knows (its line is then shorter).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from .core import DispatcherCore, Send

LOG = logging.getLogger("parkmesh.dispatcher.jobs")


def log_inbound(core: DispatcherCore, src: str, msg_type: str, body: Mapping[str, Any]) -> None:
    """A car's or a client's message about a job, before the core acts on it."""
    job = str(body.get("job", ""))
    if msg_type == "quote":
        LOG.info(
            "job %s: %s asks for a quote: model %s, tier %s, k %s",
            job,
            src,
            body.get("model"),
            body.get("tier"),
            body.get("k"),
        )
    elif msg_type == "submit":
        LOG.info("job %s: %s submits %d sealed inputs", job, src, len(body.get("inputs") or {}))
    elif msg_type == "accept":
        LOG.info("job %s: %s accepted", job, src)
    elif msg_type == "failure":
        LOG.info(
            "job %s: %s failed it: %s (%s)", job, src, body.get("reason"), body.get("detail", "")
        )
    elif msg_type == "partial" and body.get("seq") == 0:
        LOG.info("job %s: %s streams it", job, src)
    elif msg_type == "result":
        known = core.jobs.get(job)
        first = known is not None and known.state == "running"
        LOG.info(
            "job %s: result from %s: %s", job, src, "the winner" if first else "too late, dropped"
        )


def log_sends(core: DispatcherCore, actions: list[Send]) -> None:
    """What the dispatcher decided to send about jobs (after the core's step)."""
    for action in actions:
        body = action.body
        job_id = str(body.get("job", ""))
        job = core.jobs.get(job_id)
        if action.type == "quote_reply" and job is not None:
            LOG.info(
                "job %s: quoted to %s: model %s, tier %s, k %d, cars %s",
                job_id,
                action.to,
                job.model,
                job.tier.value,
                job.k,
                ", ".join(node for _, node in job.cars),
            )
        elif action.type == "offer":
            LOG.info(
                "job %s: offer to %s (model %s, tier %s, k %s)",
                job_id,
                action.to,
                body.get("model"),
                body.get("tier"),
                job.k if job is not None else "?",
            )
        elif action.type == "cancel":
            LOG.info("job %s: cancel to %s: %s", job_id, action.to, body.get("reason", ""))
        elif action.type == "receipt":
            LOG.info(
                "job %s: receipt to %s: %s %s",
                job_id,
                action.to,
                body.get("credit"),
                body.get("currency"),
            )
        elif action.type == "job_result":
            winner = job.winner if job is not None else "?"
            took = (
                f" in {(job.finished_at - job.submitted_at) * 1e3:.0f} ms"
                if job is not None and job.submitted_at
                else ""
            )
            LOG.info("job %s: done%s by %s%s", job_id, took, winner, _streamed(core, job_id))
        elif action.type == "job_failed":
            LOG.info(
                "job %s: failed: %s (%s)%s",
                job_id,
                body.get("reason"),
                body.get("detail"),
                _streamed(core, job_id),
            )


def _streamed(core: DispatcherCore, job_id: str) -> str:
    """ ", N chunks streamed (M dropped)" for a streamed job; empty for any other."""
    sent, dropped = core.streams.chunks[job_id], core.streams.dropped[job_id]
    if not sent and not dropped:
        return ""
    return f", {sent} chunks streamed" + (f" ({dropped} dropped)" if dropped else "")
