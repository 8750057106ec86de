"""The ``[uplink]`` configuration section: the broker, TLS files, identities and timings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from supervisor.config.errors import ConfigError
from supervisor.config.sections import setting

ETC = Path("/etc/parkmesh/uplink")
STATE = Path("/var/lib/parkmesh")


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
    reconnect_min_s: float = setting(0.5, doc="first reconnect back-off ceiling", min=0.01)
    reconnect_max_s: float = setting(60.0, doc="largest reconnect back-off", min=0.1)
    status_min_interval_s: float = setting(
        2.0, doc="status is published on change, at most once per this interval", min=0.0
    )
    rtt_interval_s: float = setting(
        30.0, doc="how often the RTT through the broker is measured", min=0.5
    )
    link_source: Literal["auto", "networkmanager", "config"] = setting(
        "auto", doc="where link type and metering come from (auto: NetworkManager, else config)"
    )
    link_type: Literal["wifi", "ethernet", "cellular", "satellite", "unknown"] = setting(
        "wifi", doc="link type when not read from NetworkManager"
    )
    link_metered: bool = setting(False, doc="whether the link is metered (config source)")
    interactive_max_rtt_ms: float = setting(
        60.0, doc="an unmetered link faster than this round trip gets interactive work", min=1.0
    )
    max_parallel_jobs: int = setting(1, doc="jobs run at once at most", min=1, max=64)
    result_ttl_s: float = setting(
        86400.0, doc="lifetime of result messages (how long a resend stays valid)", min=60.0
    )
    answer_ttl_s: float = setting(600.0, doc="lifetime of accept and failure messages", min=5.0)


def check_uplink(config: UplinkConfig, file: Path | str | None = None) -> None:
    """Cross-checks the parser cannot do; call at start-up when ``enabled``.

    Raises:
        ConfigError: naming the key (node id, dispatcher key, prefix, files).
    """
    from .keys import KeyFileError, parse_public_key
    from .topics import Topics, check_id

    try:
        check_id(config.node_id, "node id")
    except ValueError as exc:
        raise ConfigError(str(exc), file=file, key="uplink.node_id") from None
    try:
        parse_public_key(config.dispatcher_public_key, "dispatcher key")
    except KeyFileError as exc:
        raise ConfigError(str(exc), file=file, key="uplink.dispatcher_public_key") from None
    try:
        Topics(config.topic_prefix)
    except ValueError as exc:
        raise ConfigError(str(exc), file=file, key="uplink.topic_prefix") from None
    for key in ("ca_file", "cert_file", "key_file"):
        path: Path = getattr(config, key)
        if not path.is_file():
            raise ConfigError(
                f"{path} does not exist or is not a file", file=file, key=f"uplink.{key}"
            )
    if config.reconnect_max_s < config.reconnect_min_s:
        raise ConfigError(
            "must not be below reconnect_min_s", file=file, key="uplink.reconnect_max_s"
        )
