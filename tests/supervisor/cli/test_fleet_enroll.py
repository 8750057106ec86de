"""``parkmesh fleet enroll``: the enrolled car connects to a real mosquitto over mutual TLS with
the certificate it was given, signs with the key it was given, and the reference dispatcher,
pinning what the command printed, hears it accepting jobs. Bad inputs are refused by name and
write nothing."""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path

import pytest
import trio
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from supervisor.cli import main
from uplink import pki
from uplink.broker import Mosquitto
from uplink.client import TlsFiles
from uplink.config import UplinkConfig
from uplink.dispatcher.service import Dispatcher
from uplink.keys import read_public_file
from uplink.local_port import LocalPort
from uplink.node import NodeUplink
from uplink.testing import running, seen_accepting


def enroll(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["fleet", "enroll", *args])
    out = capsys.readouterr()
    return status, out.out, out.err


def car_config(root: Path, fragment: dict[str, object], state: Path) -> UplinkConfig:
    """The car's [uplink] as it would read it once the files are copied to / (here: `root`)."""
    uplink = dict(fragment["uplink"])  # type: ignore[call-overload]
    return UplinkConfig(
        **uplink,
        ca_file=root / "etc/parkmesh/uplink/ca.pem",
        cert_file=root / "etc/parkmesh/uplink/node.pem",
        key_file=root / "etc/parkmesh/uplink/node.key",
        signing_key_file=root / "var/lib/parkmesh/uplink/node_ed25519.key",
        state_file=state,
        link_source="config",
        reconnect_min_s=0.05,
        reconnect_max_s=1.0,
        status_min_interval_s=0.1,
    )


@pytest.mark.slow
async def test_an_enrolled_car_connects_and_the_dispatcher_hears_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Mosquitto(tmp_path / "broker") as broker:
        dispatcher_key = Ed25519PrivateKey.generate()
        pin_file = tmp_path / "dispatcher.pub"
        pin_file.write_text(dispatcher_key.public_key().public_bytes_raw().hex() + "\n")
        root = tmp_path / "enroll-car-7"
        # The broker's CA plays the operator's: it signs the broker's and the cars' certs.
        status, out, err = enroll(
            capsys,
            "car-7",
            "--ca-cert", str(broker.ca.cert),
            "--ca-key", str(broker.ca.key),
            "--dispatcher-key", str(pin_file),
            "--broker-host", "127.0.0.1",
            "--broker-port", str(broker.port),
            "--root", str(root),
            "--json",
        )  # fmt: skip
        assert status == 0, err
        printed = json.loads(out)
        assert printed["node_id"] == "car-7"

        # The layout the default [uplink] section expects, keys private.
        for rel in ("etc/parkmesh/uplink/node.key", "var/lib/parkmesh/uplink/node_ed25519.key"):
            assert stat.S_IMODE((root / rel).stat().st_mode) == 0o600
        cert = x509.load_pem_x509_certificate((root / "etc/parkmesh/uplink/node.pem").read_bytes())
        ca = x509.load_pem_x509_certificate(broker.ca.cert.read_bytes())
        cert.verify_directly_issued_by(ca)
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "car-7"
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
        assert (
            cert.fingerprint(cert.signature_hash_algorithm).hex()
            == printed[  # type: ignore[arg-type]
                "certificate_sha256"
            ]
        )

        # What the dispatcher registers: the printed key, also as its --nodes-dir file.
        pin = read_public_file(root / "dispatcher" / "car-7.pub")
        assert pin.hex() == printed["signing_public_key"]
        fragment = tomllib.loads((root / "etc/parkmesh/uplink.toml").read_text())
        config = car_config(root, fragment, tmp_path / "car.sqlite3")
        assert config.dispatcher_public_key == pin_file.read_text().strip()

        dispatcher_tls = pki.issue(broker.ca, tmp_path / "pki", "dispatcher")
        dispatcher = Dispatcher(
            signing_key=dispatcher_key,
            node_keys={"car-7": pin},
            client_keys={},
            host="127.0.0.1",
            port=broker.port,
            tls=TlsFiles(broker.ca.cert, dispatcher_tls.cert, dispatcher_tls.key),
            db_path=tmp_path / "dispatcher.sqlite3",
            client_id="dispatcher",
        )
        car = NodeUplink.open(config, LocalPort())
        async with running(dispatcher, car):
            with trio.fail_after(20):
                await seen_accepting(dispatcher, "car-7")


@pytest.fixture
def operator(tmp_path: Path) -> dict[str, str]:
    ca = pki.make_ca(tmp_path / "ca", "fleet CA")
    return {
        "ca_cert": str(ca.cert),
        "ca_key": str(ca.key),
        "pin": Ed25519PrivateKey.generate().public_key().public_bytes_raw().hex(),
        "root": str(tmp_path / "out"),
    }


def args_for(op: dict[str, str], **change: str) -> list[str]:
    values = {
        "node_id": "car-1",
        "--ca-cert": op["ca_cert"],
        "--ca-key": op["ca_key"],
        "--dispatcher-key": op["pin"],
        "--broker-host": "mqtt.fleet.example",
        "--root": op["root"],
    }
    for key, value in change.items():
        values[
            key if key.startswith("--") or key == "node_id" else "--" + key.replace("_", "-")
        ] = value
    out = [values.pop("node_id")]
    for key, value in values.items():
        out += [key, value]
    return out


def test_the_text_output_names_what_the_dispatcher_registers(
    operator: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = enroll(capsys, *args_for(operator))
    assert status == 0
    assert "the dispatcher must register:" in out
    pin = (Path(operator["root"]) / "dispatcher" / "car-1.pub").read_text().strip()
    assert pin in out and "CN=car-1" in out
    fragment = tomllib.loads((Path(operator["root"]) / "etc/parkmesh/uplink.toml").read_text())
    assert fragment["uplink"]["broker_host"] == "mqtt.fleet.example"
    assert fragment["uplink"]["broker_port"] == 8883
    assert fragment["uplink"]["dispatcher_public_key"] == operator["pin"]


def test_an_earlier_enrolment_is_never_overwritten_without_force(
    operator: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert enroll(capsys, *args_for(operator))[0] == 0
    key = Path(operator["root"]) / "var/lib/parkmesh/uplink/node_ed25519.key"
    first = key.read_bytes()
    status, _, err = enroll(capsys, *args_for(operator))
    assert status == 2 and "already enrolled here" in err and "--force" in err
    assert key.read_bytes() == first
    assert enroll(capsys, *args_for(operator), "--force")[0] == 0
    assert key.read_bytes() != first


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"node_id": "car/1"}, "NODE_ID 'car/1' must be 1-64 characters"),
        ({"node_id": "dispatcher"}, "and not 'dispatcher'"),
        ({"--dispatcher-key": "abcd"}, "neither 64 hex digits nor a readable file"),
        ({"--dispatcher-key": "00" * 31 + "zz"}, "neither 64 hex digits nor a readable file"),
        ({"--ca-cert": "/nonexistent/ca.pem"}, "--ca-cert /nonexistent/ca.pem: No such file"),
        ({"--broker-host": "bad host"}, "is not a host name"),
        ({"--broker-port": "70000"}, "--broker-port must be 1 .. 65535"),
        ({"--days": "0"}, "--days must be 1 .. 3650"),
    ],
)
def test_bad_inputs_are_named_and_nothing_is_written(
    operator: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    change: dict[str, str],
    message: str,
) -> None:
    status, _, err = enroll(capsys, *args_for(operator, **change))
    assert status == 2
    assert message in err
    assert not Path(operator["root"]).exists()


def test_a_ca_that_is_not_a_ca_or_a_key_that_is_not_its_own_is_refused(
    operator: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ca = pki.CertFiles(Path(operator["ca_cert"]), Path(operator["ca_key"]))
    leaf = pki.issue(ca, tmp_path / "leaf", "not-a-ca")
    status, _, err = enroll(
        capsys, *args_for(operator, ca_cert=str(leaf.cert), ca_key=str(leaf.key))
    )
    assert status == 2 and "not a CA certificate" in err
    other = pki.make_ca(tmp_path / "other", "other CA")
    status, _, err = enroll(capsys, *args_for(operator, ca_key=str(other.key)))
    assert status == 2 and "is not the key of --ca-cert" in err
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    status, _, err = enroll(capsys, *args_for(operator, ca_key=str(garbage)))
    assert status == 2 and "not a PEM private key" in err
    assert not Path(operator["root"]).exists()
