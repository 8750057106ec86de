"""The envelope codec: CBOR messages signed with Ed25519, with id, expiry and replay refusal.

Wire form (protocol version 1, see ``docs/protocol.md``)::

    envelope = {"v": 1, "m": <bytes: CBOR of the message>, "s": <bytes: Ed25519 signature of m>}
    message  = {"v": 1, "t": type, "id": text, "src": sender, "to": recipient,
                "iat": issued (unix s), "exp": expires (unix s), "b": {body}}

The signature covers the exact bytes of ``m`` (no re-encoding, so no canonical-form pitfalls).
`Opener.open` checks, in this order: size, the outer map (strict CBOR, ``m`` kept as raw
bytes), version, the signature when the possible senders are known (a node's), the message
(strict CBOR, `uplink.cbor_strict`), its shape and ids, type and direction, sender key and
signature otherwise, recipient, expiry, body, replay; the first failure raises the matching
`uplink.errors.EnvelopeError` subclass, and nothing else escapes. Everything here is
synchronous and pure apart from the replay cache it updates.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from . import cbor_strict
from .cbor_strict import CborError
from .errors import (
    BadSignature,
    EnvelopeError,
    Expired,
    MalformedMessage,
    UnknownSender,
    UnknownType,
    UnknownVersion,
    WrongRecipient,
)
from .messages import SCHEMAS, VERSION, Direction, check_body, direction_of
from .replay import ReplayCache
from .untrusted import MAX_ID_CHARS, is_plain_id, shown

MAX_BYTES: Final = 16 * 1024 * 1024  # a job is a few KB to a few MB; leave room for both ways
_OUTER_KEYS: Final = frozenset({"v", "m", "s"})
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
        if msg_id is not None and not is_plain_id(msg_id):
            raise ValueError(f"message id must be 1..{MAX_ID_CHARS} printable characters")
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
        senders: where only these few senders may write (a node hears only the
            dispatcher), their keys verify the signature before ``m`` is decoded at all.
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
        senders: Sequence[str] = (),
    ) -> None:
        self.me = me
        self._senders = tuple(senders)
        self._keys = keys
        self._directions = frozenset(directions)
        self.replay = replay
        self.max_ttl_s = max_ttl_s
        self.skew_s = skew_s
        self._clock = clock

    def open(self, data: bytes | bytearray | memoryview, now: float | None = None) -> Message:
        """Verify and decode `data`; raises an `EnvelopeError` subclass naming the problem.

        No other exception escapes: whatever else a hostile input provokes is refused as a
        `MalformedMessage` too (the uplink must outlive any message, retained ones included).
        """
        try:
            return self._open(data, now)
        except EnvelopeError:
            raise
        except Exception as exc:
            raise MalformedMessage(
                f"could not be opened ({type(exc).__name__}: {shown(str(exc))})"
            ) from None

    def _open(self, data: bytes | bytearray | memoryview, now: float | None) -> Message:
        """`open` without its last net.

        With `senders` set, the signature is checked over the raw bytes of ``m`` before
        anything inside ``m`` is decoded: an unsigned message costs a parse of the three-key
        outer map and one Ed25519 verification (which releases the GIL), nothing more. Only
        then is ``m`` decoded, with the strict profile of `uplink.cbor_strict`.
        """
        now = self._clock() if now is None else now
        size = len(data)
        if size > MAX_BYTES:
            raise MalformedMessage(f"envelope has {size} bytes, more than the {MAX_BYTES} allowed")
        try:
            outer = cbor_strict.loads_map_bytes(data, _OUTER_KEYS)
        except CborError as exc:
            raise MalformedMessage(f"envelope: {exc}") from None
        if not _is_version(outer["v"]):
            raise UnknownVersion(
                f"envelope version {shown(outer['v'])} is not supported"
                f" (this node speaks {VERSION})"
            )
        m, sig = outer["m"], outer["s"]
        if not isinstance(m, memoryview) or not isinstance(sig, memoryview) or len(sig) != 64:
            raise MalformedMessage("envelope m must be bytes and s a 64-byte signature")
        signed_by = self._verify_first(m, sig) if self._senders else None
        try:
            inner = cbor_strict.loads(m)
        except CborError as exc:
            raise MalformedMessage(f"message: {exc}") from None
        msg = _shape(inner)
        if direction_of(msg.type) not in self._directions:
            raise UnknownType(
                f"message type {msg.type!r} is not accepted here ({direction_of(msg.type)})"
            )
        if signed_by is not None:
            if msg.src != signed_by:
                raise BadSignature(f"{msg.type} {msg.id!r}: signed by {signed_by!r}, not its src")
        else:
            raw_key = self._keys(msg.src)
            if raw_key is None:
                raise UnknownSender(f"no public key is pinned for sender {shown(msg.src)}")
            if not _verifies(raw_key, sig, m):
                raise BadSignature(
                    f"{msg.type} {msg.id!r}: signature does not verify under the "
                    f"pinned key of {msg.src!r}"
                )
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

    def _verify_first(self, m: memoryview, sig: memoryview) -> str:
        """The one of `senders` whose pinned key verifies `sig` over `m`; raises otherwise."""
        pinned_any = False
        for sender in self._senders:
            raw_key = self._keys(sender)
            if raw_key is None:
                continue
            pinned_any = True
            if _verifies(raw_key, sig, m):
                return sender
        if not pinned_any:
            raise UnknownSender(f"no public key is pinned for {', '.join(self._senders)}")
        raise BadSignature(
            f"signature does not verify under the pinned key of {', '.join(self._senders)}"
        )


def _verifies(raw_key: bytes, sig: memoryview, m: memoryview) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(raw_key).verify(sig, m)
    except (InvalidSignature, ValueError):
        return False
    return True


def _is_version(value: Any) -> bool:
    # `True == 1` in Python: a boolean is not a version number.
    return type(value) is int and value == VERSION


def peek_type(data: bytes) -> str | None:
    """The claimed type of an envelope without verifying it (for logs only), or None.

    Bounded like `Opener.open` (strict profile); the text is cut to 40 characters.
    """
    try:
        outer = cbor_strict.loads_map_bytes(data, _OUTER_KEYS)
        inner = cbor_strict.loads(outer["m"]) if isinstance(outer["m"], memoryview) else None
        t = inner.get("t") if isinstance(inner, dict) else None
    except CborError:
        return None
    return t[:40] if isinstance(t, str) else None


def _shape(inner: Any) -> Message:
    if not isinstance(inner, dict):
        raise MalformedMessage("message must be a map")
    if not _is_version(inner.get("v")):
        raise UnknownVersion(f"message version {shown(inner.get('v'))} is not supported")
    for key, types in (("t", str), ("id", str), ("src", str), ("to", str), ("b", dict)):
        if not isinstance(inner.get(key), types):
            raise MalformedMessage(f"message field {key!r} is missing or not {types.__name__}")
    if inner["t"] not in SCHEMAS:
        raise UnknownType(f"unknown message type {shown(inner['t'])}")
    for key in ("iat", "exp"):
        value = inner.get(key)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise MalformedMessage(f"message field {key!r} must be a finite number")
    for key in ("id", "src", "to"):
        if not is_plain_id(inner[key]):
            raise MalformedMessage(
                f"message field {key!r} must be 1 to {MAX_ID_CHARS} printable characters,"
                f" not {shown(inner[key])}"
            )
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
