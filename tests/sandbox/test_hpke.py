"""HPKE: the library's suite against RFC 9180 A.2.1 (X25519, HKDF-SHA256, ChaCha20-Poly1305)."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sandbox import hpke

H = bytes.fromhex
INFO = H("4f6465206f6e2061204772656369616e2055726e")
SK_E = H("f4ec9b33b792c372c1d2c2063507b684ef925b8c75a42dbcbf57d63ccd381600")
PK_E = H("1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a")
SK_R = H("8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb")
PK_R = H("4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a")
ENC = PK_E
SHARED = H("0bbe78490412b4bbea4812666f7916932b828bba79942424abb65244930d69a7")
KEY = H("ad2744de8e17f4ebba575b3f5f5a8fa1f69c2a07f6e7500bc60ca6e3e3ec1c91")
BASE_NONCE = H("5c4d98150661b848853b547f")
PT = H("4265617574792069732074727574682c20747275746820626561757479")
AAD0 = H("436f756e742d30")
CT0 = H(
    "1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db21993c62ce81883d2dd1b51a28"
)

KEM_SUITE = b"KEM" + (0x20).to_bytes(2, "big")
HPKE_SUITE = b"HPKE" + (0x20).to_bytes(2, "big") + (1).to_bytes(2, "big") + (3).to_bytes(2, "big")


def _extract(salt: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()


def _expand(prk: bytes, info: bytes, length: int) -> bytes:
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def _labeled_extract(suite: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return _extract(salt, b"HPKE-v1" + suite + label + ikm)


def _labeled_expand(suite: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    return _expand(prk, length.to_bytes(2, "big") + b"HPKE-v1" + suite + label + info, length)


def _reference_schedule() -> tuple[bytes, bytes, bytes]:
    """RFC 9180 sections 4.1 and 5.1, written from the RFC: shared secret, key, base nonce."""
    dh = X25519PrivateKey.from_private_bytes(SK_E).exchange(X25519PublicKey.from_public_bytes(PK_R))
    eae_prk = _labeled_extract(KEM_SUITE, b"", b"eae_prk", dh)
    shared = _labeled_expand(KEM_SUITE, eae_prk, b"shared_secret", ENC + PK_R, 32)
    psk_id_hash = _labeled_extract(HPKE_SUITE, b"", b"psk_id_hash", b"")
    info_hash = _labeled_extract(HPKE_SUITE, b"", b"info_hash", INFO)
    context = b"\x00" + psk_id_hash + info_hash
    secret = _labeled_extract(HPKE_SUITE, shared, b"secret", b"")
    key = _labeled_expand(HPKE_SUITE, secret, b"key", context, 32)
    nonce = _labeled_expand(HPKE_SUITE, secret, b"base_nonce", context, 12)
    return shared, key, nonce


def test_vector_key_schedule_and_first_ciphertext() -> None:
    pk_e = (
        X25519PrivateKey.from_private_bytes(SK_E)
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )
    assert pk_e == PK_E
    assert hpke.public_key_of(SK_R) == PK_R
    shared, key, nonce = _reference_schedule()
    assert (shared, key, nonce) == (SHARED, KEY, BASE_NONCE)
    assert ChaCha20Poly1305(key).encrypt(nonce, PT, AAD0) == CT0


def test_library_opens_the_vector_ciphertext() -> None:
    from cryptography.hazmat.primitives import hpke as lib

    decrypt_with_aad = getattr(lib.rust_openssl.hpke, "_decrypt_with_aad", None)
    if decrypt_with_aad is None:
        pytest.skip("this cryptography has no AAD entry point")
    private = X25519PrivateKey.from_private_bytes(SK_R)
    assert decrypt_with_aad(hpke.SUITE, ENC + CT0, private, info=INFO, aad=AAD0) == PT


def test_library_opens_what_the_reference_seals_with_empty_aad() -> None:
    _, key, nonce = _reference_schedule()
    sealed = ENC + ChaCha20Poly1305(key).encrypt(nonce, PT, b"")
    assert hpke.open_sealed(SK_R, sealed, INFO) == PT


def test_round_trip_and_refusals() -> None:
    pair = hpke.generate_keypair()
    sealed = hpke.seal(pair.public, b"secret words", b"purpose")
    assert b"secret words" not in sealed
    assert hpke.open_sealed(pair.private, sealed, b"purpose") == b"secret words"
    with pytest.raises(hpke.HpkeError, match="does not open"):
        hpke.open_sealed(pair.private, sealed, b"other purpose")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(hpke.HpkeError, match="does not open"):
        hpke.open_sealed(pair.private, tampered, b"purpose")
    with pytest.raises(hpke.HpkeError, match="does not open"):
        hpke.open_sealed(hpke.generate_keypair().private, sealed, b"purpose")
    with pytest.raises(hpke.HpkeError, match="too short"):
        hpke.open_sealed(pair.private, sealed[:20], b"purpose")
    with pytest.raises(hpke.HpkeError, match="32 bytes"):
        hpke.seal(b"short", b"x", b"purpose")
    with pytest.raises(hpke.HpkeError, match="32 bytes"):
        hpke.open_sealed(b"short", sealed, b"purpose")
