"""The envelope codec: CBOR messages signed with Ed25519, with id, expiry and replay refusal.

Wire form (protocol version 1, see ``docs/protocol.md``)::

    envelope = {"v": 1, "m": <bytes: CBOR of the message>, "s": <bytes: Ed25519 signature of m>}
    message  = {"v": 1, "t": type, "id": text, "src": sender, "to": recipient,
                "iat": issued (unix s), "exp": expires (unix s), "b": {body}}

The signature covers the exact bytes of ``m`` (no re-encoding, so no canonical-form pitfalls).
`Opener.open` checks, in this order: size, CBOR, envelope shape, version, message shape, type
and direction, sender key, signature, recipient, expiry, body, replay; the first failure raises
the matching `uplink.errors.EnvelopeError` subclass. Everything here is synchronous and pure
apart from the replay cache it updates.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import (
    BadSignature,
    Expired,
    MalformedMessage,
    UnknownSender,
    UnknownType,
    UnknownVersion,
    WrongRecipient,
)
from .messages import VERSION, Direction, check_body, direction_of
from .replay import ReplayCache

MAX_BYTES: Final = 16 * 1024 * 1024  # a job is a few KB to a few MB; leave room for both ways
MAX_DEPTH: Final = 16
BROADCAST: Final = "*"

KeyLookup = Callable[[str], bytes | None]


@dataclass(frozen=True, slots=True)
class Message:
    """A verified message. `body` has passed `uplink.messages.check_body`."""

    type: str
    id: str
    src: str
    to: str
    iat: float
    exp: float
    body: Mapping[str, Any]


class Signer:
    """Seals messages as one identity (the dispatcher, a node or a client)."""

    def __init__(
        self, identity: str, key: Ed25519PrivateKey, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.identity = identity
        self._key = key
        self._clock = clock

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key receivers pin for this identity."""
        return self._key.public_key().public_bytes_raw()

    def seal(
        self,
        msg_type: str,
        body: Mapping[str, Any],
        *,
        to: str,
        ttl_s: float,
        msg_id: str | None = None,
        now: float | None = None,
    ) -> bytes:
        """Encode and sign one message; returns the envelope bytes to publish.

        Args:
            msg_id: the application id; give a deterministic one (``"<job>:result"``) when a
                resend must be recognised as the same message. A random UUID otherwise.
            ttl_s: lifetime; the message expires ``ttl_s`` after now.

        Raises:
            ValueError: unknown type or a body that does not match its schema (a bug here).
        """
        direction_of(msg_type)
        check_body(msg_type, body)
        if not ttl_s > 0:
            raise ValueError(f"ttl_s must be positive, not {ttl_s}")
        issued = self._clock() if now is None else now
        inner = {
            "v": VERSION,
            "t": msg_type,
            "id": msg_id or uuid.uuid4().hex,
            "src": self.identity,
            "to": to,
            "iat": float(issued),
            "exp": float(issued + ttl_s),
            "b": dict(body),
        }
        m = cbor2.dumps(inner, canonical=True)
        return cbor2.dumps({"v": VERSION, "m": m, "s": self._key.sign(m)}, canonical=True)


class Opener:
    """Verifies messages for one recipient.

    Args:
        me: this recipient's identity; messages addressed elsewhere are refused.
        keys: the pinned public key (raw 32 bytes) of a sender id, None when unknown.
        directions: which directions this recipient accepts (a node accepts only
            ``dispatcher->node`` types).
        replay: the replay cache, or None where idempotency is handled by the application
            (the dispatcher deduplicates node answers by job id).
        max_ttl_s: the longest lifetime accepted (bounds the replay cache).
        skew_s: how far in the future ``iat`` may lie (clock skew between peers).
    """

    def __init__(
        self,
        *,
        me: str,
        keys: KeyLookup,
        directions: Collection[Direction],
        replay: ReplayCache | None,
        max_ttl_s: float = 7 * 86400.0,
        skew_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.me = me
        self._keys = keys
        self._directions = frozenset(directions)
        self.replay = replay
        self.max_ttl_s = max_ttl_s
        self.skew_s = skew_s
        self._clock = clock

    def open(self, data: bytes, now: float | None = None) -> Message:
        """Verify and decode `data`; raises an `EnvelopeError` subclass naming the problem."""
        now = self._clock() if now is None else now
        outer = _decode(data, "envelope")
        if not isinstance(outer, dict) or set(outer) != {"v", "m", "s"}:
            raise MalformedMessage("envelope must be a map with exactly the keys v, m, s")
        if outer["v"] != VERSION:
            raise UnknownVersion(
                f"envelope version {outer['v']!r} is not supported (this node speaks {VERSION})"
            )
        m, sig = outer["m"], outer["s"]
        if not isinstance(m, bytes) or not isinstance(sig, bytes) or len(sig) != 64:
            raise MalformedMessage("envelope m must be bytes and s a 64-byte signature")
        inner = _decode(m, "message")
        msg = _shape(inner)
        if direction_of(msg.type) not in self._directions:
            raise UnknownType(
                f"message type {msg.type!r} is not accepted here ({direction_of(msg.type)})"
            )
        raw_key = self._keys(msg.src)
        if raw_key is None:
            raise UnknownSender(f"no public key is pinned for sender {msg.src!r}")
        try:
            Ed25519PublicKey.from_public_bytes(raw_key).verify(sig, m)
        except InvalidSignature:
            raise BadSignature(
                f"{msg.type} {msg.id!r}: signature does not verify under the "
                f"pinned key of {msg.src!r}"
            ) from None
        if msg.to not in (self.me, BROADCAST):
            raise WrongRecipient(
                f"{msg.type} {msg.id!r} is addressed to {msg.to!r}, not {self.me!r}"
            )
        if msg.exp <= now:
            raise Expired(f"{msg.type} {msg.id!r} expired {now - msg.exp:.3f} s ago")
        if msg.iat > now + self.skew_s:
            raise Expired(f"{msg.type} {msg.id!r} is issued {msg.iat - now:.1f} s in the future")
        if msg.exp - msg.iat > self.max_ttl_s:
            raise Expired(
                f"{msg.type} {msg.id!r} lives {msg.exp - msg.iat:.0f} s, longer than "
                f"the {self.max_ttl_s:.0f} s accepted"
            )
        check_body(msg.type, msg.body)
        if self.replay is not None:
            self.replay.check_and_add(msg.src, msg.id, msg.exp, now)
        return msg


def peek_type(data: bytes) -> str | None:
    """The claimed type of an envelope without verifying it (for logs only), or None."""
    try:
        outer = cbor2.loads(data)
        inner = cbor2.loads(outer["m"])
        t = inner["t"]
    except Exception:
        return None
    return t if isinstance(t, str) else None


def _decode(data: bytes, what: str) -> Any:
    if not isinstance(data, bytes | bytearray):
        raise MalformedMessage(f"{what} must be bytes, not {type(data).__name__}")
    if len(data) > MAX_BYTES:
        raise MalformedMessage(f"{what} has {len(data)} bytes, more than the {MAX_BYTES} allowed")
    try:
        value = cbor2.loads(bytes(data))
    except Exception as exc:  # cbor2 raises several types (CBORDecodeError, ValueError, ...)
        raise MalformedMessage(f"{what} is not valid CBOR: {exc}") from None
    _check_plain(value, what, 0)
    return value


def _check_plain(value: Any, what: str, depth: int) -> None:
    """Refuse CBOR tags (dates, bignums...) and deep nesting: only plain data is protocol."""
    if depth > MAX_DEPTH:
        raise MalformedMessage(f"{what} nests deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise MalformedMessage(f"{what} has a map key that is not text: {k!r}")
            _check_plain(v, what, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _check_plain(v, what, depth + 1)
    elif not isinstance(value, str | bytes | int | float | bool) and value is not None:
        raise MalformedMessage(
            f"{what} contains a {type(value).__name__} (CBOR tags are not part of the protocol)"
        )


def _shape(inner: Any) -> Message:
    if not isinstance(inner, dict):
        raise MalformedMessage("message must be a map")
    if inner.get("v") != VERSION:
        raise UnknownVersion(f"message version {inner.get('v')!r} is not supported")
    for key, types in (("t", str), ("id", str), ("src", str), ("to", str), ("b", dict)):
        if not isinstance(inner.get(key), types):
            raise MalformedMessage(f"message field {key!r} is missing or not {types.__name__}")
    for key in ("iat", "exp"):
        value = inner.get(key)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise MalformedMessage(f"message field {key!r} must be a finite number")
    if not inner["id"] or len(inner["id"]) > 200:
        raise MalformedMessage("message id must be 1 to 200 characters")
    return Message(
        inner["t"],
        inner["id"],
        inner["src"],
        inner["to"],
        float(inner["iat"]),
        float(inner["exp"]),
        inner["b"],
    )


def pinned(keys: Mapping[str, bytes]) -> KeyLookup:
    """A `KeyLookup` over a fixed mapping of sender id to raw public key."""
    return keys.get
