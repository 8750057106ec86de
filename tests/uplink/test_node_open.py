"""Building the car's uplink: `NodeUplink.open` reads (or creates) the signing key file; the
constructor, handed the key, touches no file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from uplink.local_port import LocalPort
from uplink.mesh import Mesh
from uplink.node import NodeUplink


def test_the_constructor_does_no_io_and_open_keeps_one_key(mesh: Mesh, tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "car1.ed25519"
    config = dataclasses.replace(mesh.node_config("car1"), signing_key_file=key_file)
    key = Ed25519PrivateKey.generate()
    built = NodeUplink(config, LocalPort(), signing_key=key)
    assert built.signer.public_key == key.public_key().public_bytes_raw()
    assert not key_file.parent.exists()
    first = NodeUplink.open(config, LocalPort())
    assert key_file.stat().st_mode & 0o777 == 0o600
    # The next start reads the same identity back.
    assert NodeUplink.open(config, LocalPort()).signer.public_key == first.signer.public_key
