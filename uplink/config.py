"""The ``[uplink]`` configuration section: the broker, TLS files, identities and timings."""

from __future__ import annotations

import ipaddress
import re
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from msgspec import Meta

ETC = Path("/etc/parkmesh/uplink")
STATE = Path("/var/lib/parkmesh")

# One label of a DNS host name (RFC 1123): letters, digits and inner hyphens, 1-63 long.
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


@dataclass(frozen=True, slots=True)
class UplinkConfig:
    """``[uplink]``: the MQTT 5 link to the fleet dispatcher."""

    enabled: Annotated[bool, Meta(description="hold an uplink to the dispatcher")] = False
    broker_host: Annotated[str, Meta(description="MQTT broker host name (must match its cert)")] = (
        "localhost"
    )
    broker_port: Annotated[int, Meta(ge=1, le=65535, description="MQTT over TLS port")] = 8883
    ca_file: Annotated[Path, Meta(description="CA that signed the broker's certificate")] = (
        ETC / "ca.pem"
    )
    cert_file: Annotated[Path, Meta(description="this car's client certificate (PEM)")] = (
        ETC / "node.pem"
    )
    key_file: Annotated[Path, Meta(description="private key of the client certificate")] = (
        ETC / "node.key"
    )
    node_id: Annotated[
        str, Meta(description="this car's id: MQTT client id and topic level (required)")
    ] = ""
    signing_key_file: Annotated[
        Path, Meta(description="Ed25519 key signing this node's messages; created on first start")
    ] = STATE / "uplink" / "node_ed25519.key"
    dispatcher_public_key: Annotated[
        str,
        Meta(description="pinned Ed25519 public key of the dispatcher, 64 hex digits (required)"),
    ] = ""
    topic_prefix: Annotated[str, Meta(description="first topic level(s) of every topic")] = (
        "parkmesh"
    )
    state_file: Annotated[
        Path, Meta(description="sqlite outbox of results and journal of accepted jobs")
    ] = STATE / "uplink.sqlite3"
    keepalive_s: Annotated[int, Meta(ge=5, le=3600, description="MQTT keep-alive")] = 30
    session_expiry_s: Annotated[
        int,
        Meta(
            ge=0,
            le=7 * 86400,
            description="broker keeps this car's session (subscriptions, queued offers) this long",
        ),
    ] = 6 * 3600
    will_delay_s: Annotated[
        int,
        Meta(
            ge=0,
            le=86400,
            description="the broker publishes 'offline' only if the car stays away this long",
        ),
    ] = 30
    reconnect_min_s: Annotated[
        float, Meta(ge=0.01, le=3600.0, description="first reconnect back-off ceiling")
    ] = 0.5
    reconnect_max_s: Annotated[
        float, Meta(ge=0.1, le=3600.0, description="largest reconnect back-off")
    ] = 60.0
    status_min_interval_s: Annotated[
        float,
        Meta(
            ge=0.0,
            le=3600.0,
            description="status is published on change, at most once per this interval",
        ),
    ] = 2.0
    rtt_interval_s: Annotated[
        float,
        Meta(ge=0.5, le=3600.0, description="how often the RTT through the broker is measured"),
    ] = 30.0
    link_source: Annotated[
        Literal["auto", "networkmanager", "config"],
        Meta(
            description="where link type and metering come from (auto: NetworkManager, else config)"
        ),
    ] = "auto"
    link_type: Annotated[
        Literal["wifi", "ethernet", "cellular", "satellite", "unknown"],
        Meta(description="link type when not read from NetworkManager"),
    ] = "wifi"
    link_metered: Annotated[
        bool, Meta(description="whether the link is metered (config source)")
    ] = False
    interactive_max_rtt_ms: Annotated[
        float,
        Meta(
            ge=1.0,
            le=60_000.0,
            description="an unmetered link faster than this round trip gets interactive work",
        ),
    ] = 60.0
    max_parallel_jobs: Annotated[int, Meta(ge=1, le=64, description="jobs run at once at most")] = 1
    # MQTT 5 carries a message's expiry as a 32-bit count of seconds; a week is far beyond
    # any resend a dispatcher still wants.
    result_ttl_s: Annotated[
        float,
        Meta(
            ge=60.0,
            le=7 * 86400.0,
            description="lifetime of result messages (how long a resend stays valid)",
        ),
    ] = 86400.0
    answer_ttl_s: Annotated[
        float, Meta(ge=5.0, le=86400.0, description="lifetime of accept and failure messages")
    ] = 600.0

    def config_problems(self) -> Iterator[tuple[str, str]]:
        """What is wrong across fields or in a value's form; reads no file.

        The parser calls this for the ``[uplink]`` table; ``supervisor.config.check`` too.
        Identities are required only when the uplink is ``enabled``.
        """
        from .keys import KeyFileError, parse_public_key
        from .topics import Topics, check_id

        host = _host_problem(self.broker_host)
        if host:
            yield "broker_host", host
        if self.node_id or self.enabled:
            try:
                check_id(self.node_id, "node id")
            except ValueError as exc:
                yield "node_id", _required(self.node_id, str(exc))
        if self.dispatcher_public_key or self.enabled:
            try:
                parse_public_key(self.dispatcher_public_key, "dispatcher key")
            except KeyFileError as exc:
                yield "dispatcher_public_key", _required(self.dispatcher_public_key, str(exc))
        try:
            Topics(self.topic_prefix)
        except ValueError as exc:
            yield "topic_prefix", str(exc)
        if self.reconnect_max_s < self.reconnect_min_s:
            yield (
                "reconnect_max_s",
                f"must not be below reconnect_min_s ({self.reconnect_min_s:g}), "
                f"not {self.reconnect_max_s:g}",
            )
        # The broker publishes the Will when the session ends at the latest (MQTT 5, 3.1.3.2.2):
        # a longer delay would never be waited for.
        if self.will_delay_s > self.session_expiry_s:
            yield (
                "will_delay_s",
                f"must not be above session_expiry_s ({self.session_expiry_s}), "
                f"not {self.will_delay_s}",
            )


def file_problems(config: UplinkConfig) -> list[tuple[str, str]]:
    """What is wrong with the files an enabled uplink reads or creates at start-up.

    The CA, the client certificate and its key must be readable PEM that TLS accepts, the key
    matching the certificate; the signing key, where it exists, must be a raw 32-byte key; the
    signing key and the state file, where they do not exist yet, must be creatable.
    """
    problems: list[tuple[str, str]] = []
    readable: dict[str, bytes] = {}
    for key in ("ca_file", "cert_file", "key_file"):
        path: Path = getattr(config, key)
        data, problem = _read(path)
        if problem:
            problems.append((key, problem))
        else:
            readable[key] = data
    problems += _pem_problems(readable)
    if not problems:
        problems += _tls_problems(config)
    signing = config.signing_key_file
    if signing.exists():
        size_problem = _key_size_problem(signing)
        if size_problem:
            problems.append(("signing_key_file", size_problem))
    else:
        problems += _creatable("signing_key_file", signing)
    if config.state_file.exists():
        if not config.state_file.is_file():
            problems.append(("state_file", f"{config.state_file} is not a file"))
    else:
        problems += _creatable("state_file", config.state_file)
    return problems


def _required(value: str, problem: str) -> str:
    return "is required when enabled = true" if not value else problem


def _host_problem(host: str) -> str | None:
    """Why `host` is not a host name or an IP address, or None."""
    if not host:
        return "must be a host name or an IP address, not empty"
    if "://" in host:
        return f"must be a host name, not a URL: {host!r} (the port goes in broker_port)"
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    if ":" in host:
        return f"must be a host name or an IP address, not {host!r} (the port goes in broker_port)"
    labels = host.removesuffix(".").split(".")
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        return f"{host!r} is not a valid host name (letters, digits, '-' and '.')"
    if labels[-1].isdigit():
        return f"{host!r} is not a valid IPv4 address"
    return None


def _read(path: Path) -> tuple[bytes, str | None]:
    if not path.exists():
        return b"", f"{path} does not exist"
    if not path.is_file():
        return b"", f"{path} is not a file"
    try:
        return path.read_bytes(), None
    except OSError as exc:
        return b"", f"cannot read {path}: {exc.strerror}"


def _pem_problems(files: dict[str, bytes]) -> list[tuple[str, str]]:
    """The PEM contents: CA and client certificates, a private key that matches the latter."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    problems: list[tuple[str, str]] = []
    certs: dict[str, x509.Certificate] = {}
    for key in ("ca_file", "cert_file"):
        if key in files:
            try:
                certs[key] = x509.load_pem_x509_certificates(files[key])[0]
            except ValueError:
                problems.append((key, "is not a PEM certificate"))
    if "key_file" in files:
        try:
            private = serialization.load_pem_private_key(files["key_file"], password=None)
        except TypeError:
            problems.append(("key_file", "is encrypted; the daemon needs it without a passphrase"))
        except ValueError:
            problems.append(("key_file", "is not a PEM private key"))
        else:
            spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            cert = certs.get("cert_file")
            mine = private.public_key().public_bytes(*spki)
            if cert is not None and mine != cert.public_key().public_bytes(*spki):
                problems.append(("key_file", "is not the private key of cert_file"))
    return problems


def _tls_problems(config: UplinkConfig) -> list[tuple[str, str]]:
    """What Python's TLS says of the files, read as the uplink's client reads them."""
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(config.ca_file))
    except (ssl.SSLError, OSError) as exc:
        return [("ca_file", f"TLS refuses the CA certificate: {exc}")]
    try:
        context.load_cert_chain(str(config.cert_file), str(config.key_file))
    except (ssl.SSLError, OSError) as exc:
        return [("cert_file", f"TLS refuses the certificate and key: {exc}")]
    return []


def _key_size_problem(path: Path) -> str | None:
    from .keys import KeyFileError, load_signing_key

    try:
        load_signing_key(path)
    except (KeyFileError, ValueError) as exc:
        return str(exc)
    return None


def _creatable(key: str, path: Path) -> list[tuple[str, str]]:
    """A problem when `path` can never be created: something on its way is not a folder.

    Permissions are not judged here: ``check-config`` may run as another user than the
    daemon, and systemd's StateDirectory= creates the state folder at start.
    """
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return [(key, f"cannot be created: {parent} is not a folder")]
    return []
