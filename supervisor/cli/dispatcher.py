"""``parkmesh dispatcher`` and ``parkmesh submit``: the reference dispatcher and its client.

Both speak to a broker given by ``--host/--port`` and TLS files, or, with ``--dev DIR``, to a
development mesh: ``parkmesh dispatcher --dev DIR --cars 3`` starts mosquitto (mutual TLS),
the dispatcher and three stand-in cars (`uplink.local_port.LocalPort`) in one process and lays
the keys and certificates out in DIR; ``parkmesh submit --dev DIR ...`` then finds them there
(`supervisor.cli.dispatcher_submit`).

The dispatcher keeps its jobs in a sqlite state file (``--db``; with ``--dev``,
``DIR/mesh/state/dispatcher.sqlite3``): started again on the same file after a crash or a
stop, it carries on the jobs in flight and publishes again what it had decided but not sent.
It logs every step of every job on stderr (`uplink.dispatcher.joblog`). The development mesh is
in `supervisor.cli.dispatcher_dev`, the operator's ``parkmesh dispatcher control`` in
`supervisor.cli.dispatcher_control`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import trio

from uplink.dispatcher.reconnect import LEAST_MAX_S, LEAST_MIN_S, RECONNECT_MAX_S, RECONNECT_MIN_S


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``parkmesh dispatcher`` and ``parkmesh submit``."""
    d = sub.add_parser(
        "dispatcher",
        help="run the reference dispatcher (demos, tests, sizing)",
        description="Run the reference dispatcher: it places each client's job on k cars, "
        "the first result wins, and logs every step of every job on stderr. With --dev DIR it "
        "also starts a broker and stand-in cars. `parkmesh dispatcher control` drains, resumes "
        "or curtails cars through a running dispatcher.",
        epilog=DISPATCHER_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _broker_args(d)
    d.add_argument(
        "--signing-key",
        type=Path,
        help="dispatcher Ed25519 key (raw 32 bytes); without --dev, required",
    )
    d.add_argument(
        "--client-id",
        default="dispatcher",
        help="MQTT client id (without --dev): names the persistent session that keeps what cars "
        "and clients send while the dispatcher is down; one per dispatcher process "
        "(default dispatcher)",
    )
    d.add_argument(
        "--nodes-dir",
        type=Path,
        help="folder of <node>.pub files: the pinned car keys (hex); without --dev, required",
    )
    d.add_argument(
        "--clients-dir",
        type=Path,
        help="folder of <client>.pub files: the pinned client keys (hex); without --dev, required",
    )
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
    d.add_argument(
        "--cars",
        type=int,
        default=3,
        metavar="N",
        help="--dev: stand-in cars to run, car1..carN (default 3; 0..100)",
    )
    d.add_argument(
        "--clients",
        default="client",
        metavar="NAMES",
        help="--dev: client names whose keys are made and pinned, comma-separated (default client)",
    )
    d.add_argument(
        "--price",
        action="append",
        default=[],
        metavar="MODEL=CREDIT",
        help="credit per won job of MODEL (repeatable; default all-MiniLM-L6-v2=0.002)",
    )
    d.add_argument(
        "--default-price",
        type=float,
        default=0.001,
        metavar="CREDIT",
        help="credit per won job of a model without --price (default 0.001)",
    )
    d.add_argument(
        "--currency",
        default="USD",
        metavar="CODE",
        help="ISO 4217 code of the credits (default USD)",
    )
    d.add_argument(
        "--json", action="store_true", help="--dev: print a JSON summary (jobs, credits) at the end"
    )
    d.set_defaults(func=_dispatcher)
    from supervisor.cli import dispatcher_control

    dispatcher_control.register(d.add_subparsers(title="commands", metavar="COMMAND"))

    from supervisor.cli import dispatcher_submit

    dispatcher_submit.register(sub, _broker_args, _need)


DISPATCHER_EPILOG = """\
examples:
  parkmesh dispatcher --dev /tmp/mesh --cars 3
  parkmesh dispatcher --host broker.example --port 8883 --ca ca.pem --cert d.pem --key d.key \\
      --signing-key dispatcher.ed25519 --nodes-dir nodes/ --clients-dir clients/ \\
      --db /var/lib/parkmesh/dispatcher.sqlite3
  parkmesh dispatcher control drain --dev /tmp/mesh --car car1
"""


def _broker_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dev",
        type=Path,
        metavar="DIR",
        help="development mesh directory: `parkmesh dispatcher --dev DIR` lays out a broker, "
        "keys and certificates there; the other options then come from it",
    )
    p.add_argument("--host", default="localhost", help="broker host (default localhost)")
    p.add_argument("--port", type=int, default=8883, help="broker port (default 8883)")
    p.add_argument("--ca", type=Path, help="CA certificate of the broker (PEM)")
    p.add_argument("--cert", type=Path, help="this side's client certificate (PEM)")
    p.add_argument("--key", type=Path, help="the client certificate's key (PEM)")
    p.add_argument(
        "--prefix", default="parkmesh", help="topic prefix, as the cars use (default parkmesh)"
    )


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
        from supervisor.cli.dispatcher_dev import dev_dispatcher

        return dev_dispatcher(args, core)
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
