"""``parkmesh fleet enroll NODE_ID``: the operator enrols a car (`uplink.enroll`).

Run where the fleet's CA lives, not on the car. It writes the car's client certificate and
key, its signing key and the ``[uplink]`` lines under ``--root`` (in the layout of the car's
filesystem, ready to copy onto it) and prints what the dispatcher must register: the car's id
and the Ed25519 public key to pin (also written as ``dispatcher/NODE_ID.pub`` for the
dispatcher's ``--nodes-dir``). docs/protocol.md, "Enrolling a car", walks through it.

Exit status: 0 enrolled; 2 a bad input (named; nothing written).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from supervisor.cli.output import print_json, print_table


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``fleet enroll``."""
    fleet = sub.add_parser("fleet", help="operator tools: enrol a car with the fleet")
    actions = fleet.add_subparsers(dest="fleet_command", metavar="ACTION", required=True)
    e = actions.add_parser(
        "enroll",
        help="issue a car's client certificate and signing key, print what to register",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    e.add_argument("node_id", metavar="NODE_ID", help="the car's id (certificate CN, client id)")
    e.add_argument("--ca-cert", type=Path, required=True, help="the operator's CA (PEM)")
    e.add_argument("--ca-key", type=Path, required=True, help="the CA's private key (PEM)")
    e.add_argument(
        "--dispatcher-key",
        required=True,
        help="the dispatcher's Ed25519 public key: 64 hex digits, or a file holding them",
    )
    e.add_argument("--broker-host", required=True, help="the broker's host name (as in its cert)")
    e.add_argument("--broker-port", type=int, default=8883, help="the broker's TLS port (8883)")
    e.add_argument(
        "--broker-ca",
        type=Path,
        help="the CA of the broker's certificate, if not --ca-cert (installed as ca.pem)",
    )
    e.add_argument("--days", type=int, default=365, help="certificate validity (default 365)")
    e.add_argument(
        "--root",
        type=Path,
        help="where to lay the car's files out (default ./enroll-NODE_ID)",
    )
    e.add_argument("--force", action="store_true", help="replace an earlier enrolment's files")
    e.add_argument("--json", action="store_true", help="print the result as JSON")
    e.set_defaults(func=_enroll)


def _enroll(args: argparse.Namespace) -> int:
    from uplink.enroll import EnrollError, enroll

    root = args.root or Path(f"enroll-{args.node_id}")
    try:
        done = enroll(
            args.node_id,
            ca_cert=args.ca_cert,
            ca_key=args.ca_key,
            dispatcher_key=args.dispatcher_key,
            root=root,
            broker_host=args.broker_host,
            broker_port=args.broker_port,
            broker_ca=args.broker_ca,
            days=args.days,
            force=args.force,
        )
    except EnrollError as exc:
        print(f"parkmesh fleet enroll: {exc}", file=sys.stderr)
        return 2
    info = {
        "node_id": done.node_id,
        "signing_public_key": done.signing_public_key,
        "certificate_sha256": done.certificate_sha256,
        "certificate_serial": done.serial,
        "not_after": done.not_after.isoformat(),
        "files": {role: str(path) for role, path in done.files.items()},
    }
    if args.json:
        print_json(info)
        return 0
    print(f"enrolled {done.node_id}; files under {root}:")
    for path in done.files.values():
        print(f"  {path}")
    print()
    print("the dispatcher must register:")
    print_table(
        {
            "  node id": done.node_id,
            "  Ed25519 key": f"{done.signing_public_key}  (pin: {done.files['dispatcher_pin']})",
            "  certificate": f"CN={done.node_id}, serial {done.serial}, "
            f"until {done.not_after:%Y-%m-%d}",
            "  SHA-256": done.certificate_sha256,
        }
    )
    print()
    print(f"on the car: copy etc/ and var/ from {root} to /, merge")
    print("/etc/parkmesh/uplink.toml into /etc/parkmesh/parkmesh.toml, then")
    print("parkmesh check-config /etc/parkmesh/parkmesh.toml && systemctl restart parkmesh")
    return 0
