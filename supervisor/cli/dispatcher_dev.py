"""``parkmesh dispatcher --dev DIR``: a development mesh in one process.

mosquitto (mutual TLS), the reference dispatcher and ``--cars`` stand-in cars
(`uplink.local_port.LocalPort`), with keys and certificates laid out in DIR. The stand-in cars
run the test models (``hash``, ``embed-tiny``) and the real encoder ``all-MiniLM-L6-v2``, as the
demo's stand-in cars do (`supervisor.demo.mesh.stand_in_encoder`): the model is provisioned
(``~/.cache/parkmesh/demo-models``) and loaded on the first job that asks for it, in the cars'
worker thread, once for all the cars.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from supervisor.cli.output import print_json

if TYPE_CHECKING:
    from uplink.dispatcher.core import DispatcherCore

DEV_ENCODER = "all-MiniLM-L6-v2"

Compute = Callable[[str, Sequence[str]], dict[str, Any]]


def stand_in_compute() -> Compute:
    """What the ``--dev`` cars compute: the test models, and the real encoder loaded on first
    use (shared by the cars; a failure to provision or load it fails that job, ``crashed``)."""
    from uplink.local_port import compute_output

    lock = threading.Lock()
    loaded: list[Compute] = []

    def compute(model: str, texts: Sequence[str]) -> dict[str, Any]:
        if model != DEV_ENCODER:
            return compute_output(model, texts)
        with lock:  # cars run their jobs in threads: load the model once
            if not loaded:
                from supervisor.demo.mesh import demo_models_dir, stand_in_encoder

                loaded.append(stand_in_encoder(demo_models_dir()))
        return loaded[0](model, texts)

    return compute


def dev_dispatcher(args: argparse.Namespace, core: DispatcherCore) -> int:
    """``parkmesh dispatcher --dev DIR``: broker, dispatcher and stand-in cars in one process,
    until interrupted (Ctrl-C). Returns the exit status."""
    from uplink.broker import Mosquitto
    from uplink.local_port import MODELS, LocalPort
    from uplink.mesh import Mesh
    from uplink.node import NodeUplink

    if not 0 <= args.cars <= 100:
        print("parkmesh dispatcher: --cars must be 0..100", file=sys.stderr)
        return 2
    root: Path = args.dev
    (root / "broker").mkdir(parents=True, exist_ok=True)
    cars = [f"car{i + 1}" for i in range(args.cars)]
    clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    with Mosquitto(root / "broker") as broker:
        mesh = Mesh.create(root / "mesh", broker, args.prefix)
        dispatcher = mesh.dispatcher(
            cars,
            clients,
            core=core,
            reconnect_min_s=args.reconnect_min_s,
            reconnect_max_s=args.reconnect_max_s,
        )

        async def main() -> None:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_end_on_sigterm, nursery.cancel_scope)
                await nursery.start(dispatcher.run)
                compute = stand_in_compute()
                for car in cars:
                    port = LocalPort(models=(*MODELS, DEV_ENCODER), compute=compute)
                    await nursery.start(NodeUplink.open(mesh.node_config(car), port).run)
                print(
                    json.dumps(
                        {
                            "ready": True,
                            "port": broker.port,
                            "mesh": str(root),
                            "cars": cars,
                            "clients": clients,
                        }
                    ),
                    flush=True,
                )

        with contextlib.suppress(KeyboardInterrupt):
            trio.run(main)
        if args.json:
            states = [job.state for job in dispatcher.core.jobs.values()]
            print_json(
                {
                    "jobs": {s: states.count(s) for s in sorted(set(states))},
                    "credits": round(sum(j.credit for j in dispatcher.core.jobs.values()), 6),
                    "currency": core.prices.currency,
                    "refused": dict(dispatcher.refused),
                }
            )
    return 0


async def _end_on_sigterm(scope: trio.CancelScope) -> None:
    """SIGTERM ends the development mesh as Ctrl-C does: the cars and the dispatcher stop and
    the broker is stopped with them (its process would outlive a plain kill)."""
    with trio.open_signal_receiver(signal.SIGTERM) as signals:
        async for _ in signals:
            scope.cancel()
            return
