"""``parkmesh bench stop-under-load``: door-open frames to a busy daemon, timed to the idle worker.

The daemon is the real one (`supervisor.daemon.app.Supervisor`, in this process): its CAN source
on a udp_multicast bus (loopback only: TTL 0, its own port) and stop thread, its policy,
budget, worker pool with one real confined worker (the shipped encoder), job desk and ledger.
Another process (`signal_sender`) plays the reference car and opens the driver door at random
moments. A trial is timed from the sender's CLOCK_MONOTONIC just before ``send`` to the
worker's idle acknowledgement on its stop page (``ack_ns``, the same clock): written by the
worker, by the pool's confirmer for a frozen worker, or by the pool for an idle one. Openings
that reached the bus over `SENDER_ON_TIME_MS` after the sender's clock reading were held up in
the sender itself (its virtual CPU descheduled by the host): they are counted
(``sender_delayed``), shown apart (``all_openings``), and left out of the figures.

Scenarios: ``idle`` (nothing else happens) and ``busy``: jobs flowing back to back through
the job desk (metered, recorded in a ledger of `--rows` rows) and the worker;
large uplink messages: a reference dispatcher in another process (`offer_sender`) sends the
daemon's real uplink, over the bench's own mosquitto (TLS, loopback), signed offers of
`--message-mib` MiB every 20-100 ms, so around the door moments; the daemon receives each
one (paho), verifies and decodes it whole (`uplink.inbound`, off the loop) and declines it
(a model it does not serve); and the
daemon's DBus-property views (state, vehicle, workers) built on the loop every 20 ms, as a
polling DBus client makes it do. ``--loads`` picks among them, and ``scans`` (a thread reading
every ledger row in a loop, as the job desk's old rescans did) can be added. The loop's longest
task step is measured with a trio instrument.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import trio

from sandbox.jobs import seal_encode_job
from supervisor.config.daemon_config import DaemonConfig
from supervisor.config.schema import Config
from supervisor.policy import PolicyConfig
from supervisor.vehicle.config import CanConfig, VehicleConfig
from uplink.broker import Mosquitto
from uplink.mesh import Mesh
from uplink.messages import Tier
from uplink.node_port import Job, JobFailure

from . import signal_sender
from .multicast_port import reserve_multicast_port
from .reference_car import REFERENCE_DBC, REFERENCE_MAPPING
from .signal import MULTICAST_GROUP, SENDER_ON_TIME_MS
from .stop_timing import AckWatch, KillLog, LongestStep, pair_trials, scenario_figures

ENCODER = "all-MiniLM-L6-v2"
# The door stays open long enough for the slowest acknowledgement to land before the release.
OPEN_MS = 25.0
GAP_MS = (15.0, 40.0)
MESSAGE_GAP_MS = (20.0, 100.0)
CAR = "bench-car"
LOADS = ("jobs", "scans", "messages", "properties")
# `scans` (a thread reading every ledger row in a loop, as the job desk's old rescans did) is
# not in the default busy scenario: the daemon no longer does it; it shows what such a thread
# costs the stop thread (docs/stop-path.md).
DEFAULT_LOADS = ("jobs", "messages", "properties")


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``parkmesh bench stop-under-load``."""
    parser = sub.add_parser(
        "stop-under-load", help="door frame to idle worker, in a running daemon, idle and busy"
    )
    parser.add_argument("--trials", type=int, default=300, help="door openings per scenario")
    parser.add_argument("--rows", type=int, default=100_000, help="ledger rows (default 100000)")
    parser.add_argument(
        "--message-mib",
        type=float,
        default=8.0,
        help="size of each uplink-like message (default 8)",
    )
    parser.add_argument(
        "--loads",
        default=",".join(DEFAULT_LOADS),
        help=f"busy scenario's loads, comma-separated, among {','.join(LOADS)} "
        "(default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print JSON (the default output)")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    loads = tuple(name for name in args.loads.split(",") if name)
    if args.trials < 10 or not set(loads) <= set(LOADS):
        print(
            f"parkmesh: --trials must be at least 10 and --loads among {', '.join(LOADS)}",
            file=sys.stderr,
        )
        return 2
    result = trio.run(measure, args.trials, args.rows, args.message_mib, args.seed, loads)
    print(json.dumps(result, indent=2))
    return 0


def fill_ledger(path: Path, rows: int) -> None:
    """A ledger of `rows` job rows (built once per size, then copied)."""
    from supervisor.ledger.store import Ledger

    with Ledger(path) as ledger:
        for i in range(rows):
            day, minute = 1 + i % 28, i % 50
            ledger.record_job(
                job_id=f"bench-{i}",
                request_id=f"req-{i}",
                model=ENCODER,
                started_at=f"2026-11-{day:02d}T00:{minute:02d}:00+00:00",
                ended_at=f"2026-11-{day:02d}T00:{minute:02d}:30+00:00",
                outcome="ok",
                energy_wh=1.0,
                energy_method="estimate",
                tariff_per_kwh=0.2,
                credit=0.01,
                receipt_id=None,
            )


def _prepare_ledger(path: Path, rows: int) -> None:
    cached = Path(f"/var/tmp/parkmesh-bench-ledger-{rows}.sqlite")
    if not cached.exists():
        fill_ledger(cached, rows)
    path.write_bytes(cached.read_bytes())


async def measure(
    trials: int, rows: int, message_mib: float, seed: int, loads: tuple[str, ...] = DEFAULT_LOADS
) -> dict[str, Any]:
    """Start a broker and the daemon, run the idle then the busy scenario; returns the JSON
    figures."""
    from supervisor.ledger import LEDGER_FILE

    rng = random.Random(seed)
    port = reserve_multicast_port()
    state = Path(tempfile.mkdtemp(prefix="parkmesh-bench-"))
    await trio.to_thread.run_sync(_prepare_ledger, state / LEDGER_FILE, rows)
    (state / "broker").mkdir()
    with Mosquitto(state / "broker", persistence=False) as broker:
        mesh = Mesh.create(state / "mesh", broker, prefix="bench")
        return await _measure(state, port, mesh, trials, rows, message_mib, rng, loads)


async def _measure(
    state: Path,
    port: int,
    mesh: Mesh,
    trials: int,
    rows: int,
    message_mib: float,
    rng: random.Random,
    loads: tuple[str, ...],
) -> dict[str, Any]:
    from supervisor.cli.sandbox_config import load_sandbox_config
    from supervisor.daemon.app import Supervisor
    from supervisor.daemon.systemd import Notifier
    from supervisor.ledger import LEDGER_FILE

    sandbox = load_sandbox_config(None, models=(ENCODER,))
    config = Config(
        daemon=DaemonConfig(state_dir=state, runtime_dir=state),
        vehicle=VehicleConfig(
            source="can",
            can=CanConfig(
                interface="udp_multicast",
                channel=MULTICAST_GROUP,
                dbc=REFERENCE_DBC,
                mapping=REFERENCE_MAPPING,
                port=port,
            ),
        ),
        policy=PolicyConfig(settle_s=0.0),
        sandbox=sandbox,
        uplink=mesh.node_config(CAR, state_file=state / "uplink.sqlite3"),
    )
    instrument = LongestStep()
    sup = Supervisor(config, notifier=Notifier({}))
    stops: list[tuple[int, int, int]] = []
    kills = KillLog()
    logging.getLogger("sandbox").addHandler(kills)
    result: dict[str, Any] = {}
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        assert sup.pool is not None

        def record_stop(_level: object) -> None:  # on the stop thread, after the pool's hook
            for page in sup.board.pages:
                try:
                    snap = page.snapshot()
                except ValueError:
                    continue
                stops.append((id(page), snap.generation, snap.requested_ns))

        sup.board.add_after_stop(record_stop)
        with AckWatch(sup.board) as watch:
            for scenario in ("idle", "busy"):
                stops.clear()
                watch.acks.clear()
                if sup.guardian is not None:
                    sup.guardian.stop_times.clear()
                    sup.guardian.ack_times.clear()
                trio.lowlevel.add_instrument(instrument)
                instrument.longest_ms = 0.0
                async with trio.open_nursery() as load:
                    if scenario == "busy":
                        await _start_load(
                            load, sup, state / LEDGER_FILE, mesh, message_mib, rng, loads
                        )
                    sent = await _send_doors(port, trials, rng.randrange(1 << 30))
                    load.cancel_scope.cancel()
                trio.lowlevel.remove_instrument(instrument)
                guardian = sup.guardian
                paired = pair_trials(
                    sent,
                    stops,
                    sorted(guardian.stop_times) if guardian is not None else [],
                    sorted(
                        [*watch.acks, *((0, 0, t) for t in guardian.ack_times)]
                        if guardian is not None
                        else watch.acks,
                        key=lambda a: a[2],
                    ),
                )
                result[scenario] = {
                    **scenario_figures(paired, SENDER_ON_TIME_MS),
                    "kills": kills.take(),
                    "loop_longest_step_ms": round(instrument.longest_ms, 3),
                    "loop_longest_step_task": instrument.task,
                }
        result["worker_stop_via"] = dict(collections.Counter(s.via for s in sup.pool.stop_samples))
        nursery.cancel_scope.cancel()
    result["loop_longest_step_ms"] = result["busy"]["loop_longest_step_ms"]
    result["loads"] = list(loads)
    result["ledger_rows"] = rows
    result["message_mib"] = message_mib
    if sup.uplink is not None:
        result["messages_opened"] = sup.uplink.deliveries.opened_off_thread
    return result


async def _send_doors(port: int, trials: int, seed: int) -> list[signal_sender.Opening]:
    proc = await trio.run_process(
        signal_sender.command(MULTICAST_GROUP, port, trials, seed, OPEN_MS, GAP_MS),
        capture_stdout=True,
    )
    return signal_sender.read_openings(proc.stdout.decode())


async def _start_load(
    nursery: trio.Nursery,
    sup: Any,
    ledger: Path,
    mesh: Mesh,
    message_mib: float,
    rng: random.Random,
    loads: tuple[str, ...],
) -> None:
    """Start jobs, ledger scans, uplink messages and DBus property views, which run until
    cancelled; returns once each has begun (the messages once the first one is opened)."""
    stop = threading.Event()

    def scan() -> None:  # the job desk's rescans: Python rows out of a big table
        db = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, check_same_thread=False)
        while not stop.is_set():
            db.execute("SELECT * FROM entries").fetchall()
        db.close()

    async def scans() -> None:
        try:
            await trio.to_thread.run_sync(scan, abandon_on_cancel=True)
        finally:
            stop.set()

    async def jobs() -> None:  # through the job desk: metering, ledger rows, in-flight marks
        texts = ["the car always wins " * 20] * 16
        while True:
            job_id = f"bench-{uuid.uuid4().hex[:12]}"
            sealed, _ = seal_encode_job(job_id, ENCODER, sup.pool.worker_public_key, texts)
            result = await sup.job_desk.run_job(
                Job(job_id, ENCODER, Tier.BATCH, time.time() + 60, sealed.sealed)
            )
            if isinstance(result, JobFailure):
                await trio.sleep(0.005)

    async def messages(*, task_status: trio.TaskStatus[None]) -> None:
        # Large offers from a dispatcher in another process; started once the first one is
        # opened, so that they flow for the whole scenario.
        args = [str(mesh.root), CAR, str(message_mib), *map(str, MESSAGE_GAP_MS)]
        proc = await trio.lowlevel.open_process(
            [sys.executable, "-m", "supervisor.bench.offer_sender", *args, str(rng.random())[2:9]],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,  # its count; the bench's own stdout is the JSON
        )
        try:
            opened = sup.uplink.deliveries.opened_off_thread
            with trio.fail_after(120):
                # A counter of the uplink's, with no event to wait on.
                while sup.uplink.deliveries.opened_off_thread == opened:  # noqa: ASYNC110
                    await trio.sleep(0.01)
            task_status.started()
            await proc.wait()
        finally:
            with trio.CancelScope(shield=True):
                assert proc.stdin is not None
                await proc.stdin.aclose()  # the sender's signal to end
                with trio.move_on_after(10):
                    await proc.wait()
                if proc.returncode is None:
                    proc.kill()

    async def properties() -> None:  # a DBus client polling the daemon's properties
        while True:
            json.dumps(
                {
                    "state": sup.facade.state(),
                    "vehicle": sup.facade.vehicle(),
                    "workers": sup.facade.workers(),
                },
                default=str,
            )
            await trio.sleep(0.02)

    tasks = {"jobs": jobs, "scans": scans, "properties": properties}
    for name in loads:
        if name == "messages":
            await nursery.start(messages)
        else:
            nursery.start_soon(tasks[name])
