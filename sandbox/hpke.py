"""HPKE (RFC 9180) base mode for private jobs: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
ChaCha20-Poly1305.

The installed `cryptography` (>= 47) implements HPKE (``cryptography.hazmat.primitives.hpke``),
so this module only fixes the suite, the key encoding (raw 32-byte X25519 keys) and the error
type; the tests check the library against the RFC 9180 A.2 test vectors. A sealed message is
``enc || ciphertext`` (32 bytes of encapsulated key, then the AEAD output), single-shot
(sequence number 0), with an empty AAD. ``info`` binds a message to its purpose, so an input
cannot be replayed as an output or for another model.

No torch here: the uplink and the client use this module too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

SUITE: Final = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.CHACHA20_POLY1305)
SUITE_NAME: Final = "DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305"
KEY_BYTES: Final = 32
ENC_BYTES: Final = 32
TAG_BYTES: Final = 16

_RAW = serialization.Encoding.Raw


class HpkeError(Exception):
    """A key is malformed, or a sealed message does not open (wrong key, info, or tampering)."""


@dataclass(frozen=True, slots=True)
class KeyPair:
    """An X25519 key pair as raw bytes."""

    private: bytes
    public: bytes


def generate_keypair() -> KeyPair:
    """A fresh key pair (the worker key at provisioning; a client's reply key per job)."""
    key = X25519PrivateKey.generate()
    return KeyPair(_private_bytes(key), public_key_of(_private_bytes(key)))


def public_key_of(private_key: bytes) -> bytes:
    """The raw public key of a raw private key.

    Raises:
        HpkeError: not a 32-byte key.
    """
    public = _load_private(private_key).public_key()
    return public.public_bytes(_RAW, serialization.PublicFormat.Raw)


def seal(public_key: bytes, plaintext: bytes, info: bytes) -> bytes:
    """Encrypt `plaintext` to `public_key`; returns ``enc || ciphertext``.

    Raises:
        HpkeError: the public key is malformed.
    """
    if len(public_key) != KEY_BYTES:
        raise HpkeError(f"public key must be {KEY_BYTES} bytes, not {len(public_key)}")
    try:
        recipient = X25519PublicKey.from_public_bytes(public_key)
        return SUITE.encrypt(plaintext, recipient, info=info)
    except ValueError as exc:  # a low-order point gives an all-zero shared secret
        raise HpkeError(f"cannot seal to this public key: {exc}") from None


def open_sealed(private_key: bytes, sealed: bytes, info: bytes) -> bytes:
    """Decrypt ``enc || ciphertext`` with `private_key`.

    Raises:
        HpkeError: too short, wrong key or info, or tampered with.
    """
    if len(sealed) < ENC_BYTES + TAG_BYTES:
        raise HpkeError(f"sealed message of {len(sealed)} bytes is too short")
    try:
        return SUITE.decrypt(sealed, _load_private(private_key), info=info)
    except HpkeError:
        raise
    except Exception:  # InvalidTag and friends: say nothing about the contents
        raise HpkeError(
            "sealed message does not open (wrong key, wrong purpose or tampered)"
        ) from None


def _load_private(private_key: bytes) -> X25519PrivateKey:
    if len(private_key) != KEY_BYTES:
        raise HpkeError(f"private key must be {KEY_BYTES} bytes, not {len(private_key)}")
    return X25519PrivateKey.from_private_bytes(private_key)


def _private_bytes(key: X25519PrivateKey) -> bytes:
    return key.private_bytes(_RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption())
