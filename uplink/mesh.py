"""A whole development mesh on one machine: keys, certificates and configs for a broker, a
dispatcher, cars and clients. Used by the tests, ``parkmesh bench uplink`` and the demo.

`Mesh.create` lays out a directory (``pki/`` certificates from the broker's CA, ``keys/`` the
Ed25519 identity keys, ``state/`` the cars' outboxes) and `Mesh` builds configured objects:
`node_config` (an `UplinkConfig` as the daemon would read it), `dispatcher`, `client`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import pki
from .broker import Mosquitto
from .client import TlsFiles
from .config import UplinkConfig
from .dispatcher.service import Dispatcher
from .dispatcher.submit import SubmitClient
from .keys import load_or_create_signing_key


@dataclass
class Mesh:
    """Files of a development mesh around one running `Mosquitto`."""

    root: Path
    ca: pki.CertFiles
    port: int
    prefix: str = "parkmesh"

    @classmethod
    def create(cls, root: Path, broker: Mosquitto, prefix: str = "parkmesh") -> Mesh:
        """Prepare `root` (created if needed) for a mesh on `broker`; writes ``mesh.json``."""
        for sub in ("keys", "state"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        mesh = cls(root, broker.ca, broker.port, prefix)
        (root / "mesh.json").write_text(
            json.dumps(
                {
                    "ca_cert": str(broker.ca.cert),
                    "ca_key": str(broker.ca.key),
                    "port": broker.port,
                    "prefix": prefix,
                }
            )
        )
        return mesh

    @classmethod
    def open(cls, root: Path) -> Mesh:
        """The mesh `create` laid out in `root` (raises OSError/KeyError when there is none)."""
        info = json.loads((root / "mesh.json").read_text())
        return cls(
            root,
            pki.CertFiles(Path(info["ca_cert"]), Path(info["ca_key"])),
            int(info["port"]),
            str(info["prefix"]),
        )

    def _cert(self, name: str) -> TlsFiles:
        cert = self.root / "pki" / f"{name}.pem"
        if not cert.exists():
            pki.issue(self.ca, self.root / "pki", name)
        return TlsFiles(self.ca.cert, cert, self.root / "pki" / f"{name}.key")

    def signing_key_path(self, name: str) -> Path:
        """Where the Ed25519 identity key of `name` lives."""
        return self.root / "keys" / f"{name}.ed25519"

    def public_key(self, name: str) -> bytes:
        """Raw Ed25519 public key of `name` (created on first use)."""
        key = load_or_create_signing_key(self.signing_key_path(name))
        return key.public_key().public_bytes_raw()

    def node_config(self, node: str, **overrides: object) -> UplinkConfig:
        """The ``[uplink]`` section of car `node`."""
        tls = self._cert(node)
        self.public_key(node)
        config = UplinkConfig(
            enabled=True,
            broker_host="127.0.0.1",
            broker_port=self.port,
            ca_file=tls.ca,
            cert_file=tls.cert,
            key_file=tls.key,
            node_id=node,
            signing_key_file=self.signing_key_path(node),
            dispatcher_public_key=self.public_key("dispatcher").hex(),
            topic_prefix=self.prefix,
            state_file=self.root / "state" / f"{node}.sqlite3",
            keepalive_s=10,
            will_delay_s=1,
            reconnect_min_s=0.05,
            reconnect_max_s=1.0,
            status_min_interval_s=0.1,
            rtt_interval_s=5.0,
            link_source="config",
        )
        return replace(config, **overrides)  # type: ignore[arg-type]

    def node_toml(self, node: str, **overrides: object) -> str:
        """The ``[uplink]`` section of car `node` as TOML text (for a separate process)."""
        config = self.node_config(node, **overrides)
        lines = ["[uplink]"]
        for name in config.__dataclass_fields__:
            value = getattr(config, name)
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, int | float):
                text = repr(value)
            else:
                text = json.dumps(str(value))
            lines.append(f"{name} = {text}")
        return "\n".join(lines) + "\n"

    def dispatcher(self, nodes: list[str], clients: list[str], **kwargs: Any) -> Dispatcher:
        """A reference dispatcher that pins the keys of `nodes` and `clients`."""
        return Dispatcher(
            signing_key=load_or_create_signing_key(self.signing_key_path("dispatcher")),
            node_keys={n: self.public_key(n) for n in nodes},
            client_keys={c: self.public_key(c) for c in clients},
            host="127.0.0.1",
            port=self.port,
            tls=self._cert("dispatcher"),
            db_path=self.root / "state" / "dispatcher.sqlite3",
            prefix=self.prefix,
            **{"client_id": f"dispatcher-{self.prefix}", **kwargs},
        )

    def client(self, name: str) -> SubmitClient:
        """A submit client called `name`."""
        return SubmitClient(
            client_id=name,
            signing_key=load_or_create_signing_key(self.signing_key_path(name)),
            dispatcher_key=self.public_key("dispatcher"),
            host="127.0.0.1",
            port=self.port,
            tls=self._cert(name),
            prefix=self.prefix,
        )
