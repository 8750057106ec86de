"""The plain data `uplink.client.MqttClient` takes and gives (re-exported there)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Inbound:
    """One received message.

    Attributes:
        mid: the packet id the broker gave it on its connection (0 for QoS 0).
        qos: the QoS it was delivered with.
        dup: the broker's DUP flag: it may have been delivered before (on an earlier
            connection whose PUBACK never came).
        connection: which connection of the client it arrived on (`MqttClient.connects` at
            the time); `MqttClient.ack` sends nothing for one that has gone.
    """

    topic: str
    payload: bytes
    retain: bool
    mid: int = 0
    qos: int = 0
    dup: bool = False
    connection: int = 0


@dataclass(frozen=True, slots=True)
class Will:
    """The message the broker publishes for us when we vanish."""

    topic: str
    payload: bytes
    delay_s: int
    retain: bool = True


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """CA to verify the broker, and our client certificate and key (mutual TLS)."""

    ca: Path
    cert: Path
    key: Path
