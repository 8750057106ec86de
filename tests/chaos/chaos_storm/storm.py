"""`StormBase`: the chaos test's fault injector without its faults: the record of what it did,
the client's stream of jobs, waiting for the car, killing and restarting the daemon, the
timed SIGTERM and its checks, and the settling at the end.

The faults themselves are grouped by the promise they attack (`kills`, `shutdown`,
`outages`); `Storm` in this package's ``__init__`` is all of them.
"""

from __future__ import annotations

import functools
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import trio
from chaos_harness import ChaosClient, Seen, World, compute_seconds, evidence, night_started

SHUTDOWN_GRACE_S = 2.0
JOB_DEADLINE_S = 12.0
# A restart imports torch and loads the model in a fresh worker: seconds on a busy 2-core box.
READY_TIMEOUT_S = 60.0
# Once the car is ready, a job is accepted (or its result or receipt seen) within this.
MOMENT_TIMEOUT_S = 10.0
# How long the client waits for one job's answer before it submits the next one anyway.
JOB_PATIENCE_S = 2.0


@dataclass
class StormBase:
    """Injects the faults into `world` and keeps the record of what it did."""

    world: World
    rng: random.Random
    t0: float = field(default_factory=time.monotonic)
    kills: Counter[str] = field(default_factory=Counter)
    missed: Counter[str] = field(default_factory=Counter)
    kill_states: Counter[str] = field(default_factory=Counter)  # the job's journal state then
    problems: list[str] = field(default_factory=list)
    timeline: list[str] = field(default_factory=list)
    feeding: bool = True
    restarted_at: float = 0.0  # Unix time of the daemon's last start

    @property
    def client(self) -> ChaosClient:
        return self.world.client

    def log(self, text: str) -> None:
        line = f"{time.monotonic() - self.t0:7.2f} s  {text}"
        self.timeline.append(line)
        print(line, flush=True)

    # -- the client's jobs -----------------------------------------------------------------

    async def feed(self) -> None:
        """Submit jobs one after another while `feeding`: the next once the last is answered
        (or after `JOB_PATIENCE_S`), and only while the car, as started last, takes jobs."""
        client = self.client
        while self.feeding:
            if not await client.wait(lambda: client.car_ready(self.restarted_at), 1.0):
                continue
            job = await client.submit(JOB_DEADLINE_S)
            if job is None:
                # The dispatcher knows better (the car is busy or gone): wait for its news.
                await client.next_seen("status", 1.0)
                continue
            await client.wait(functools.partial(client.answered, job), JOB_PATIENCE_S)

    # -- helpers ---------------------------------------------------------------------------

    def restart_daemon(self) -> None:
        self.restarted_at = time.time()
        self.world.car.start()

    async def ready(self) -> bool:
        """Wait until the car, as started last, says it takes jobs; restart a daemon that
        exited by itself (noted as a problem) as systemd would."""
        deadline = trio.current_time() + READY_TIMEOUT_S
        while trio.current_time() < deadline:
            car = self.world.car
            if not car.alive:
                code = car.proc.returncode if car.proc is not None else None
                tail = " | ".join(car.lines(r".")[-6:])
                self.problems.append(f"the daemon exited by itself (code {code}): {tail}")
                self.log(f"daemon exited by itself (code {code}); restarting it")
                car.kill()
                self.restart_daemon()
            if await self.client.wait(lambda: self.client.car_ready(self.restarted_at), 0.5):
                return True
        self.log("the car never became ready")
        return False

    async def moment(self, step: str, msg_type: str) -> Seen | None:
        """The car ready, then the next `msg_type` seen on its topics (None: it never came,
        counted in `missed`; the fault then strikes anyway)."""
        if await self.ready():
            # A calm first, sometimes: a job or two goes through untouched.
            for _ in range(self.rng.randint(0, 2)):
                await self.client.next_seen("result", MOMENT_TIMEOUT_S)
            seen = await self.client.next_seen(msg_type, MOMENT_TIMEOUT_S)
            if seen is not None:
                return seen
        self.missed[step] += 1
        return None

    def kill_daemon(self, step: str, job: str = "", receipt: str = "") -> None:
        """SIGKILL the daemon, note what its files held at that instant, start it again."""
        car = self.world.car
        car.kill(f"SIGKILL for {step}")
        self.kills[step] += 1
        what = ""
        if job:  # read after the kill: nothing writes the files any more
            what = f"job {car.journal().get(job, 'not journaled')}"
            if receipt:
                held = any(e.get("receipt_id") == receipt for e in car.ledger_entries())
                what += f", receipt {'in' if held else 'not yet in'} the ledger"
            self.kill_states[f"{step}: {what}"] += 1
        self.log(f"{step}: daemon killed" + (f" ({job[:8]}: {what})" if job else ""))
        self.restart_daemon()

    async def sigterm(self, step: str, job: str) -> None:
        """SIGTERM, timed; then `job` must be answered, acknowledged and in the ledger."""
        car = self.world.car
        mark = len(car.lines(r"."))
        if job:
            self.kill_states[f"{step}: job {car.journal().get(job, 'not journaled')}"] += 1
        took = await trio.to_thread.run_sync(car.terminate, SHUTDOWN_GRACE_S + 10.0)
        shutdown_log = " | ".join(line.strip() for line in car.lines(r".")[mark:][-8:])
        self.kills[step] += 1
        limit = SHUTDOWN_GRACE_S + 1.0
        self.log(
            f"{step}: daemon exited {took if took is None else round(took, 2)} s after "
            f"SIGTERM (job {job[:8]})"
        )
        if took is None or took > limit:
            self.problems.append(
                f"{step}: the daemon took {took or f'over {SHUTDOWN_GRACE_S + 10.0}'} s to exit "
                f"after SIGTERM (limit {limit} s); its last lines: {shutdown_log}"
            )
        if job:
            state = car.journal().get(job)
            rows = [
                e for e in car.ledger_entries() if e.get("job_id") == job and e.get("kind") == "job"
            ]
            unacked = [o for o in car.outbox() if o["job"] == job]
            if state != "answered" or unacked or len(rows) != 1:
                self.problems.append(
                    f"{step}: after the exit job {job} is {state!r} in the journal, "
                    f"{len(unacked)} answers unacknowledged, {len(rows)} ledger rows; "
                    f"{evidence(car, [job])}; its last lines: {shutdown_log}"
                )
        self.restart_daemon()

    # -- the end ---------------------------------------------------------------------------

    async def settle(self) -> None:
        """Stop submitting; wait (bounded) until every job is answered, the car's outbox is
        empty and every receipt issued is in the ledger."""
        self.feeding = False
        await self.ready()
        client, car, dispatcher = self.client, self.world.car, self.world.dispatcher
        answered = await client.wait(lambda: not client.unanswered(), JOB_DEADLINE_S + 15.0)
        self.log(f"settle: every job answered: {answered} ({len(client.unanswered())} not)")

        def accounted() -> bool:
            recorded = {e.get("receipt_id") for e in car.ledger_entries()}
            issued = {r["receipt"] for r in dispatcher.receipts()}
            return not car.outbox() and issued <= recorded

        settled = await client.wait(accounted, 15.0)
        self.log(f"settle: outbox empty and receipts recorded: {settled}")

    async def final_restart(self) -> tuple[float, float] | None:
        """A last SIGTERM and start; then (the budget's compute time tonight, the ledger's),
        in seconds, read when the restarted car is ready (None if it never is)."""
        await self.sigterm("sigterm_final", "")
        if not await self.ready():
            return None
        budget = await trio.to_thread.run_sync(self.world.car.budget)
        now = datetime.now().astimezone()
        ledger = compute_seconds(self.world.car.ledger_entries(), night_started(now), now)
        return float(budget["computed_tonight_h"]) * 3600.0, ledger
