"""``parkmesh dispatcher`` and ``parkmesh submit``: the reference dispatcher and its client.

Both speak to a broker given by ``--host/--port`` and TLS files, or, with ``--dev DIR``, to a
development mesh: ``parkmesh dispatcher --dev DIR --cars 3`` starts mosquitto (mutual TLS),
the dispatcher and three stand-in cars (`uplink.local_port.LocalPort`) in one process and lays
the keys and certificates out in DIR; ``parkmesh submit --dev DIR ...`` then finds them there.

The dispatcher keeps its jobs in a sqlite state file (``--db``; with ``--dev``,
``DIR/mesh/state/dispatcher.sqlite3``): started again on the same file after a crash or a
stop, it carries on the jobs in flight and publishes again what it had decided but not sent.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from supervisor.cli.output import print_json
from uplink.dispatcher.reconnect import LEAST_MAX_S, LEAST_MIN_S, RECONNECT_MAX_S, RECONNECT_MIN_S

if TYPE_CHECKING:
    from uplink.dispatcher.core import DispatcherCore


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``parkmesh dispatcher`` and ``parkmesh submit``."""
    d = sub.add_parser("dispatcher", help="run the reference dispatcher (demos, tests, sizing)")
    _broker_args(d)
    d.add_argument("--signing-key", type=Path, help="dispatcher Ed25519 key (raw 32 bytes)")
    d.add_argument(
        "--client-id",
        default="dispatcher",
        help="MQTT client id (without --dev): names the persistent session that keeps what cars "
        "and clients send while the dispatcher is down; one per dispatcher process "
        "(default dispatcher)",
    )
    d.add_argument("--nodes-dir", type=Path, help="<node>.pub files: pinned car keys (hex)")
    d.add_argument("--clients-dir", type=Path, help="<client>.pub files: pinned client keys")
    d.add_argument(
        "--db",
        type=Path,
        help="sqlite state file: jobs in flight and done, receipts, unsent messages; a restart "
        "on the same file carries on (--dev: DIR/mesh/state/dispatcher.sqlite3)",
    )
    d.add_argument(
        "--reconnect-min-s",
        type=float,
        default=RECONNECT_MIN_S,
        metavar="SECONDS",
        help="first reconnect back-off ceiling after the broker is lost; it doubles with each "
        f"failed attempt (default {RECONNECT_MIN_S}, at least {LEAST_MIN_S})",
    )
    d.add_argument(
        "--reconnect-max-s",
        type=float,
        default=RECONNECT_MAX_S,
        metavar="SECONDS",
        help=f"largest reconnect back-off (default {RECONNECT_MAX_S}, at least {LEAST_MAX_S} "
        "and not below --reconnect-min-s)",
    )
    d.add_argument("--cars", type=int, default=3, help="--dev: stand-in cars to run (default 3)")
    d.add_argument("--clients", default="client", help="--dev: client names, comma-separated")
    d.add_argument(
        "--price",
        action="append",
        default=[],
        metavar="MODEL=CREDIT",
        help="credit per won job of MODEL (repeatable; default all-MiniLM-L6-v2=0.002)",
    )
    d.add_argument("--default-price", type=float, default=0.001, help="other models' credit")
    d.add_argument("--currency", default="USD", help="ISO 4217 code of the credits (USD)")
    d.add_argument("--json", action="store_true", help="print a JSON summary at the end")
    d.set_defaults(func=_dispatcher)

    s = sub.add_parser("submit", help="submit one job through the dispatcher and open the result")
    _broker_args(s)
    s.add_argument("--client-id", default="client", help="this client's id (default client)")
    s.add_argument("--signing-key", type=Path, help="client Ed25519 key (raw 32 bytes)")
    s.add_argument("--dispatcher-key", help="pinned dispatcher public key (64 hex digits)")
    s.add_argument("--model", required=True, help="model name (stand-in cars: hash, embed-tiny)")
    s.add_argument("--text", required=True, help="the input text")
    s.add_argument(
        "--op",
        choices=("encode", "generate"),
        default="encode",
        help="request kind (sandbox.jobs): embeddings or text generation",
    )
    s.add_argument("--max-new-tokens", type=int, default=32, help="for --op generate")
    s.add_argument("--redundancy", type=int, default=1, help="cars running it at once (k)")
    s.add_argument("--tier", choices=("interactive", "batch"), default="batch")
    s.add_argument("--deadline-s", type=float, default=60.0)
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=_submit)


def _broker_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dev", type=Path, help="development mesh directory (see above)")
    p.add_argument("--host", default="localhost")
    p.add_argument("--port", type=int, default=8883)
    p.add_argument("--ca", type=Path, help="CA certificate of the broker (PEM)")
    p.add_argument("--cert", type=Path, help="client certificate (PEM)")
    p.add_argument("--key", type=Path, help="client certificate key (PEM)")
    p.add_argument("--prefix", default="parkmesh", help="topic prefix")


def _need(args: argparse.Namespace, *names: str) -> list[str]:
    return [f"--{n.replace('_', '-')}" for n in names if getattr(args, n) is None]


def _dispatcher(args: argparse.Namespace) -> int:
    from uplink.dispatcher.core import DispatcherCore
    from uplink.dispatcher.pricing import PriceList
    from uplink.dispatcher.reconnect import reconnect_backoff

    try:
        core = DispatcherCore(prices=PriceList.parse(args.price, args.default_price, args.currency))
        reconnect_backoff(
            args.reconnect_min_s,
            args.reconnect_max_s,
            names=("--reconnect-min-s", "--reconnect-max-s"),
        )
    except ValueError as exc:
        print(f"parkmesh dispatcher: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.dev is not None:
        return _dev_dispatcher(args, core)
    missing = _need(args, "ca", "cert", "key", "signing_key", "nodes_dir", "clients_dir", "db")
    if missing:
        print(
            f"parkmesh dispatcher: without --dev, {', '.join(missing)} are required",
            file=sys.stderr,
        )
        return 2
    from uplink.client import TlsFiles
    from uplink.dispatcher.service import Dispatcher
    from uplink.keys import load_signing_key, read_public_file

    dispatcher = Dispatcher(
        signing_key=load_signing_key(args.signing_key),
        node_keys={p.stem: read_public_file(p) for p in args.nodes_dir.glob("*.pub")},
        client_keys={p.stem: read_public_file(p) for p in args.clients_dir.glob("*.pub")},
        host=args.host,
        port=args.port,
        tls=TlsFiles(args.ca, args.cert, args.key),
        db_path=args.db,
        prefix=args.prefix,
        client_id=args.client_id,
        core=core,
        reconnect_min_s=args.reconnect_min_s,
        reconnect_max_s=args.reconnect_max_s,
    )
    trio.run(dispatcher.run)
    return 0


def _dev_dispatcher(args: argparse.Namespace, core: DispatcherCore) -> int:
    from uplink.broker import Mosquitto
    from uplink.local_port import LocalPort
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
                await nursery.start(dispatcher.run)
                for car in cars:
                    await nursery.start(NodeUplink.open(mesh.node_config(car), LocalPort()).run)
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


def _submit(args: argparse.Namespace) -> int:
    if args.redundancy < 1 or args.redundancy > 8 or args.deadline_s <= 0:
        print(
            "parkmesh submit: --redundancy must be 1..8 and --deadline-s positive", file=sys.stderr
        )
        return 2
    from uplink.dispatcher.submit import JobFailed, SubmitClient

    if args.dev is not None:
        from uplink.mesh import Mesh

        client = Mesh.open(args.dev / "mesh").client(args.client_id)
    else:
        missing = _need(args, "ca", "cert", "key", "signing_key", "dispatcher_key")
        if missing:
            print(
                f"parkmesh submit: without --dev, {', '.join(missing)} are required",
                file=sys.stderr,
            )
            return 2
        from uplink.client import TlsFiles
        from uplink.keys import load_signing_key, parse_public_key

        client = SubmitClient(
            client_id=args.client_id,
            signing_key=load_signing_key(args.signing_key),
            dispatcher_key=parse_public_key(args.dispatcher_key, "--dispatcher-key"),
            host=args.host,
            port=args.port,
            tls=TlsFiles(args.ca, args.cert, args.key),
            prefix=args.prefix,
        )

    async def main() -> dict[str, Any]:
        async with trio.open_nursery() as nursery:
            with trio.move_on_after(10):
                await nursery.start(client.run)
            if not client.mqtt.connected:
                nursery.cancel_scope.cancel()
                return {
                    "error": f"could not reach the broker within 10 s "
                    f"({client.mqtt.last_error or 'no answer'})"
                }
            try:
                out = await client.submit(
                    args.model,
                    [args.text],
                    tier=args.tier,
                    k=args.redundancy,
                    deadline_s=args.deadline_s,
                    op=args.op,
                    max_new_tokens=args.max_new_tokens,
                )
            except JobFailed as exc:
                return {"error": str(exc)}
            finally:
                nursery.cancel_scope.cancel()
        return {
            "job": out.job,
            "output": dict(out.output),
            "car": out.car,
            "cars_quoted": out.cars_quoted,
            "timings": dict(out.timings),
            "energy_j": out.energy_j,
            "e2e_ms": round(out.e2e_ms, 3),
            "quote_ms": round(out.quote_ms, 3),
        }

    result = trio.run(main)
    if "error" in result:
        print(f"parkmesh submit: {result['error']}", file=sys.stderr)
        return 1
    if args.json:
        print_json(result)
    else:
        output = result["output"]
        shown = output.get("texts") or [
            f"embedding of {len(v)} values" for v in output.get("embeddings", [])
        ]
        print(f"{shown}\n(car {result['car']}, {result['e2e_ms']} ms)")
    return 0
