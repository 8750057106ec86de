"""The ``[uplink]`` configuration section: the broker, TLS files, identities and timings."""

from __future__ import annotations

import ipaddress
import re
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from supervisor.config.errors import ConfigError, combine
from supervisor.config.sections import Problem, setting

ETC = Path("/etc/parkmesh/uplink")
STATE = Path("/var/lib/parkmesh")

# One label of a DNS host name (RFC 1123): letters, digits and inner hyphens, 1-63 long.
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


@dataclass(frozen=True, slots=True)
class UplinkConfig:
    """``[uplink]``: the MQTT 5 link to the fleet dispatcher."""

    enabled: bool = setting(False, doc="hold an uplink to the dispatcher")
    broker_host: str = setting("localhost", doc="MQTT broker host name (must match its cert)")
    broker_port: int = setting(8883, doc="MQTT over TLS port", min=1, max=65535)
    ca_file: Path = setting(ETC / "ca.pem", doc="CA that signed the broker's certificate")
    cert_file: Path = setting(ETC / "node.pem", doc="this car's client certificate (PEM)")
    key_file: Path = setting(ETC / "node.key", doc="private key of the client certificate")
    node_id: str = setting("", doc="this car's id: MQTT client id and topic level (required)")
    signing_key_file: Path = setting(
        STATE / "uplink" / "node_ed25519.key",
        doc="Ed25519 key signing this node's messages; created on first start",
    )
    dispatcher_public_key: str = setting(
        "", doc="pinned Ed25519 public key of the dispatcher, 64 hex digits (required)"
    )
    topic_prefix: str = setting("parkmesh", doc="first topic level(s) of every topic")
    state_file: Path = setting(
        STATE / "uplink.sqlite3", doc="sqlite outbox of results and journal of accepted jobs"
    )
    keepalive_s: int = setting(30, doc="MQTT keep-alive", min=5, max=3600)
    session_expiry_s: int = setting(
        6 * 3600,
        doc="broker keeps this car's session (subscriptions, queued offers) this long",
        min=0,
        max=7 * 86400,
    )
    will_delay_s: int = setting(
        30,
        doc="the broker publishes 'offline' only if the car stays away this long",
        min=0,
        max=86400,
    )
    reconnect_min_s: float = setting(
        0.5, doc="first reconnect back-off ceiling", min=0.01, max=3600.0
    )
    reconnect_max_s: float = setting(60.0, doc="largest reconnect back-off", min=0.1, max=3600.0)
    status_min_interval_s: float = setting(
        2.0,
        doc="status is published on change, at most once per this interval",
        min=0.0,
        max=3600.0,
    )
    rtt_interval_s: float = setting(
        30.0, doc="how often the RTT through the broker is measured", min=0.5, max=3600.0
    )
    link_source: Literal["auto", "networkmanager", "config"] = setting(
        "auto", doc="where link type and metering come from (auto: NetworkManager, else config)"
    )
    link_type: Literal["wifi", "ethernet", "cellular", "satellite", "unknown"] = setting(
        "wifi", doc="link type when not read from NetworkManager"
    )
    link_metered: bool = setting(False, doc="whether the link is metered (config source)")
    interactive_max_rtt_ms: float = setting(
        60.0,
        doc="an unmetered link faster than this round trip gets interactive work",
        min=1.0,
        max=60_000.0,
    )
    max_parallel_jobs: int = setting(1, doc="jobs run at once at most", min=1, max=64)
    # MQTT 5 carries a message's expiry as a 32-bit count of seconds; a week is far beyond
    # any resend a dispatcher still wants.
    result_ttl_s: float = setting(
        86400.0,
        doc="lifetime of result messages (how long a resend stays valid)",
        min=60.0,
        max=7 * 86400.0,
    )
    answer_ttl_s: float = setting(
        600.0, doc="lifetime of accept and failure messages", min=5.0, max=86400.0
    )

    def config_problems(self) -> Iterator[Problem]:
        """What is wrong across fields or in a value's form; reads no file.

        The parser calls this for the ``[uplink]`` table; `check_uplink` calls it too.
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


def file_problems(config: UplinkConfig) -> list[Problem]:
    """What is wrong with the files an enabled uplink reads or creates at start-up.

    The CA, the client certificate and its key must be readable PEM that TLS accepts, the key
    matching the certificate; the signing key, where it exists, must be a raw 32-byte key; the
    signing key and the state file, where they do not exist yet, must be creatable.
    """
    problems: list[Problem] = []
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


def check_uplink(config: UplinkConfig, file: Path | str | None = None) -> None:
    """Every check of ``[uplink]``: its fields together, and its files when ``enabled``.

    Raises:
        ConfigError: naming the key (``uplink.node_id``, ``uplink.cert_file``...) of each
            problem (`ConfigErrors` when there are several).
    """
    problems = list(config.config_problems())
    if config.enabled:
        problems += file_problems(config)
    if problems:
        raise combine(
            [
                ConfigError(message, file=file, key=f"uplink.{key}", section="uplink")
                for key, message in problems
            ]
        )


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


def _pem_problems(files: dict[str, bytes]) -> list[Problem]:
    """The PEM contents: CA and client certificates, a private key that matches the latter."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    problems: list[Problem] = []
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


def _tls_problems(config: UplinkConfig) -> list[Problem]:
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


def _creatable(key: str, path: Path) -> list[Problem]:
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
