"""Errors of the uplink: one class per way a message can be refused, each with a stable code.

Every refusal carries a short machine code (``code``, also logged and counted) and a sentence
that names what is wrong. Receivers log a refused message and keep serving; nothing here is
fatal to the daemon.
"""

from __future__ import annotations


class UplinkError(Exception):
    """Base of every uplink error."""


class EnvelopeError(UplinkError):
    """A received message was refused. `code` is one of the codes in ``docs/protocol.md``."""

    code = "invalid"


class MalformedMessage(EnvelopeError):
    """The bytes are not CBOR, or not the envelope's shape (missing or mistyped fields)."""

    code = "malformed"


class UnknownVersion(EnvelopeError):
    """The envelope's version ``v`` is not one this codec speaks."""

    code = "unknown_version"


class UnknownType(EnvelopeError):
    """The message type ``t`` is not known, or not allowed in this direction."""

    code = "unknown_type"


class UnknownSender(EnvelopeError):
    """No public key is pinned for the sender ``src``."""

    code = "unknown_sender"


class BadSignature(EnvelopeError):
    """The Ed25519 signature does not verify under the sender's pinned key."""

    code = "bad_signature"


class WrongRecipient(EnvelopeError):
    """The message is addressed (``to``) to someone else: a replay across nodes, or a mix-up."""

    code = "wrong_recipient"


class Expired(EnvelopeError):
    """The message's expiry ``exp`` has passed, or it was issued too far in the future."""

    code = "expired"


class Replayed(EnvelopeError):
    """A message with this sender and id was already accepted (or its id is older than the
    replay window can remember)."""

    code = "replayed"


class BadBody(EnvelopeError):
    """The signed message is well formed but its body misses or mistypes a field."""

    code = "bad_body"
