"""A valid enabled ``[uplink]`` section with real TLS files and keys, to break one part at a time."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from uplink import pki


def good_uplink(root: Path) -> dict[str, object]:
    """The keys of an ``[uplink]`` table that passes every check: a real CA, a client
    certificate and key issued by it, a dispatcher key, state under `root`."""
    ca = pki.make_ca(root / "pki")
    node = pki.issue(ca, root / "pki", "car1")
    dispatcher = Ed25519PrivateKey.generate().public_key().public_bytes_raw().hex()
    return {
        "enabled": True,
        "broker_host": "127.0.0.1",
        "broker_port": 8883,
        "ca_file": str(ca.cert),
        "cert_file": str(node.cert),
        "key_file": str(node.key),
        "node_id": "car1",
        "dispatcher_public_key": dispatcher,
        "signing_key_file": str(root / "state" / "node.ed25519"),
        "state_file": str(root / "state" / "uplink.sqlite3"),
    }


class Raw(str):
    """A TOML value written as it is (``nan``, ``[1, 2]``)."""


def uplink_toml(values: dict[str, object]) -> str:
    """`values` as an ``[uplink]`` table, one key a line (JSON strings are TOML strings)."""
    return "[uplink]\n" + "".join(f"{key} = {_toml(value)}\n" for key, value in values.items())


def _toml(value: object) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)
