"""Enrolling a car with a fleet: its client certificate, its signing key, the dispatcher pin.

The operator runs this on a machine that holds the fleet's CA (never on the car): `enroll`
issues the car's TLS client certificate (CN = the node id, clientAuth, ECDSA P-256) from the
operator's CA, creates the car's Ed25519 signing key, and lays the files out under a root in
the layout the default ``[uplink]`` section expects::

    ROOT/etc/parkmesh/uplink/ca.pem            the CA that signed the broker's certificate
    ROOT/etc/parkmesh/uplink/node.pem          the car's client certificate
    ROOT/etc/parkmesh/uplink/node.key          its private key (0600)
    ROOT/var/lib/parkmesh/uplink/node_ed25519.key   the car's signing key (raw 32 bytes, 0600)
    ROOT/etc/parkmesh/uplink.toml              the [uplink] lines to merge into parkmesh.toml
    ROOT/dispatcher/NODE_ID.pub                the car's public key, for the dispatcher's
                                               --nodes-dir

Copied onto the car (``tar -C ROOT -c etc var | ssh car tar -C / -x``), the car connects with
its certificate and signs with its key; the dispatcher pins the ``.pub`` file. Nothing here
runs on the car or at run time.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .errors import UplinkError
from .keys import parse_public_key
from .topics import check_id

# Where the default configuration looks for each file, relative to the car's root.
CA_FILE: Final = Path("etc/parkmesh/uplink/ca.pem")
CERT_FILE: Final = Path("etc/parkmesh/uplink/node.pem")
KEY_FILE: Final = Path("etc/parkmesh/uplink/node.key")
SIGNING_KEY_FILE: Final = Path("var/lib/parkmesh/uplink/node_ed25519.key")
CONFIG_FRAGMENT: Final = Path("etc/parkmesh/uplink.toml")
DISPATCHER_DIR: Final = Path("dispatcher")


class EnrollError(UplinkError):
    """An input of the enrolment is unusable (named in the message); nothing was written."""


@dataclass(frozen=True, slots=True)
class Enrolment:
    """What `enroll` wrote, and what the dispatcher must register.

    Attributes:
        node_id: the car's id (MQTT client id, certificate CN, topic level).
        signing_public_key: the car's Ed25519 public key, 64 hex digits: the dispatcher pins it.
        certificate_sha256: SHA-256 fingerprint of the client certificate, hex.
        serial: the certificate's serial number, hex.
        not_after: when the certificate expires (UTC).
        files: every file written, by role (``ca``, ``cert``, ``key``, ``signing_key``,
            ``config``, ``dispatcher_pin``).
    """

    node_id: str
    signing_public_key: str
    certificate_sha256: str
    serial: str
    not_after: dt.datetime
    files: dict[str, Path]


def enroll(
    node_id: str,
    *,
    ca_cert: Path,
    ca_key: Path,
    dispatcher_key: str,
    root: Path,
    broker_host: str,
    broker_port: int = 8883,
    broker_ca: Path | None = None,
    days: int = 365,
    force: bool = False,
) -> Enrolment:
    """Issue the car's certificate and keys under `root`; see the module docstring.

    Args:
        dispatcher_key: the dispatcher's Ed25519 public key: 64 hex digits, or a file
            holding them.
        broker_ca: the CA of the broker's certificate, when another than `ca_cert`.
        force: replace files of an earlier enrolment under `root` (otherwise refused, so a
            car's keys are never overwritten by mistake).

    Raises:
        EnrollError: a bad node id, CA, CA key, dispatcher key, broker or validity, or files
            already there; every input is checked before anything is written.
    """
    try:
        check_id(node_id, "NODE_ID")
    except ValueError as exc:
        raise EnrollError(str(exc)) from None
    if not 1 <= days <= 3650:
        raise EnrollError(f"--days must be 1 .. 3650, not {days}")
    if not broker_host or any(c.isspace() for c in broker_host):
        raise EnrollError(f"--broker-host {broker_host!r} is not a host name")
    if not 1 <= broker_port <= 65535:
        raise EnrollError(f"--broker-port must be 1 .. 65535, not {broker_port}")
    pin = _dispatcher_pin(dispatcher_key)
    issuer = _load_ca(ca_cert)
    issuer_key = _load_ca_key(ca_key, issuer, ca_cert)
    broker_ca_pem = _read(broker_ca or ca_cert, "--broker-ca" if broker_ca else "--ca-cert")
    if broker_ca is not None:
        _parse_cert(broker_ca_pem, broker_ca, "--broker-ca")
    files = {
        "ca": root / CA_FILE,
        "cert": root / CERT_FILE,
        "key": root / KEY_FILE,
        "signing_key": root / SIGNING_KEY_FILE,
        "config": root / CONFIG_FRAGMENT,
        "dispatcher_pin": root / DISPATCHER_DIR / f"{node_id}.pub",
    }
    there = [str(p) for p in files.values() if p.exists()]
    if there and not force:
        raise EnrollError(f"already enrolled here ({', '.join(there)}); --force replaces them")

    key = ec.generate_private_key(ec.SECP256R1())
    cert = _client_certificate(node_id, key, issuer, issuer_key, days)
    signing = ed25519.Ed25519PrivateKey.generate()
    public_hex = signing.public_key().public_bytes_raw().hex()

    _write(files["ca"], broker_ca_pem, 0o644)
    _write(files["cert"], cert.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(
        files["key"],
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        0o600,
    )
    _write(files["signing_key"], signing.private_bytes_raw(), 0o600)
    _write(files["config"], _fragment(node_id, pin, broker_host, broker_port).encode(), 0o644)
    _write(files["dispatcher_pin"], public_hex.encode() + b"\n", 0o644)
    return Enrolment(
        node_id=node_id,
        signing_public_key=public_hex,
        certificate_sha256=cert.fingerprint(hashes.SHA256()).hex(),
        serial=f"{cert.serial_number:x}",
        not_after=cert.not_valid_after_utc,
        files=files,
    )


def _fragment(node_id: str, pin: str, host: str, port: int) -> str:
    """The [uplink] lines of this car; the file paths are the defaults, so they are omitted."""
    return (
        f"# parkmesh fleet enroll {node_id}: merge into /etc/parkmesh/parkmesh.toml.\n"
        "# ca_file, cert_file, key_file and signing_key_file keep their defaults\n"
        "# (/etc/parkmesh/uplink/..., /var/lib/parkmesh/uplink/node_ed25519.key).\n"
        "[uplink]\n"
        "enabled = true\n"
        f'broker_host = "{host}"\n'
        f"broker_port = {port}\n"
        f'node_id = "{node_id}"\n'
        f'dispatcher_public_key = "{pin}"\n'
    )


def _client_certificate(
    node_id: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate,
    issuer_key: CertificateIssuerPrivateKeyTypes,
    days: int,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node_id)]))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # A car's clock may lag a little behind the operator's.
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    # Ed25519 and Ed448 sign without a separate hash.
    algorithm = (
        None
        if isinstance(issuer_key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey)
        else hashes.SHA256()
    )
    return builder.sign(issuer_key, algorithm)


def _dispatcher_pin(value: str) -> str:
    """The dispatcher's public key as 64 hex digits, from the digits or a file of them."""
    text = value
    if not _looks_hex(value):
        path = Path(value)
        if not path.is_file():
            raise EnrollError(
                f"--dispatcher-key {value!r} is neither 64 hex digits nor a readable file"
            )
        text = _read(path, "--dispatcher-key").decode(errors="replace").strip()
    try:
        return parse_public_key(text, "--dispatcher-key").hex()
    except UplinkError as exc:
        raise EnrollError(str(exc)) from None


def _looks_hex(value: str) -> bool:
    return len(value.strip()) == 64 and all(c in "0123456789abcdefABCDEF" for c in value.strip())


def _load_ca(path: Path) -> x509.Certificate:
    cert = _parse_cert(_read(path, "--ca-cert"), path, "--ca-cert")
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise EnrollError(f"--ca-cert {path}: not a CA certificate (no BasicConstraints CA:TRUE)")
    if cert.not_valid_after_utc <= dt.datetime.now(dt.UTC):
        raise EnrollError(f"--ca-cert {path}: expired on {cert.not_valid_after_utc:%Y-%m-%d}")
    return cert


def _parse_cert(data: bytes, path: Path, what: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise EnrollError(f"{what} {path}: not a PEM certificate") from None


def _load_ca_key(
    path: Path, ca: x509.Certificate, ca_path: Path
) -> CertificateIssuerPrivateKeyTypes:
    data = _read(path, "--ca-key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise EnrollError(
            f"--ca-key {path}: the key is encrypted; decrypt it to a protected file first"
        ) from None
    except ValueError:
        raise EnrollError(f"--ca-key {path}: not a PEM private key") from None
    if not isinstance(
        key,
        ec.EllipticCurvePrivateKey
        | rsa.RSAPrivateKey
        | ed25519.Ed25519PrivateKey
        | ed448.Ed448PrivateKey,
    ):
        raise EnrollError(f"--ca-key {path}: a {type(key).__name__} cannot sign certificates")
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, spki) != ca.public_key().public_bytes(der, spki):
        raise EnrollError(f"--ca-key {path} is not the key of --ca-cert {ca_path}")
    return key


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise EnrollError(f"{what} {path}: {exc.strerror or exc}") from None


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write `data` to `path` with `mode` from the start (a key is never world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
