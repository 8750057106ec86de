"""Private jobs: what the supervisor carries (ciphertext) and what only the worker reads.

A client seals a request to the worker's public key with HPKE (`sandbox.hpke`); the request names
the client's reply key inside the ciphertext, so nobody on the way (supervisor, broker,
dispatcher) can redirect the result to another key. The worker opens the request, runs it and
seals the output to that reply key. The supervisor sees `Job` and `JobResult`, whose only
payloads are ``sealed`` bytes.

Plaintext formats (CBOR maps), version 1:

    request  {"v": 1, "op": "encode", "texts": [str, ...], "reply_to": bytes(32)}
             {"v": 1, "op": "generate", "prompts": [str, ...], "max_new_tokens": int,
              "temperature": float, "top_p": float, "seed": int | None, "reply_to": bytes(32)}
    output   {"v": 1, "embeddings": [[float, ...], ...]}    or    {"v": 1, "texts": [str, ...]}

The HPKE ``info`` of an input is ``parkmesh/v1/input/<model>`` and of an output
``parkmesh/v1/output/<model>``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import cbor2
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from sandbox.hpke import (
    ENC_BYTES,
    KEY_BYTES,
    SUITE,
    TAG_BYTES,
    HpkeError,
    generate_keypair,
    open_sealed,
    seal,
)

MAX_TEXTS: Final = 256
MAX_TEXT_CHARS: Final = 100_000
MAX_PROMPTS: Final = 64
MAX_NEW_TOKENS: Final = 4096

# "failed" is the job's own failure (bad input, a model error); "node_error" is the node's (the
# worker's ``internal`` reason: a file it cannot read, a library that does not load, a bug), so
# that the dispatcher resends the job elsewhere instead of blaming the client.
Status = Literal[
    "ok",
    "preempted",
    "cancelled",
    "crashed",
    "poison",
    "failed",
    "node_error",
    "unavailable",
    "stopped",
]


class JobInputError(ValueError):
    """The client's fault: a sealed request does not open (an AEAD failure) or is not a valid
    request. The message names the field and never repeats the input.

    Nothing else is: a library that cannot load, a file the worker cannot read or a bug in the
    worker propagates as its own exception, so that the node, not the client, is blamed."""


def input_info(model: str) -> bytes:
    """HPKE info of a request for `model`."""
    return b"parkmesh/v1/input/" + model.encode()


def output_info(model: str) -> bytes:
    """HPKE info of an output of `model`."""
    return b"parkmesh/v1/output/" + model.encode()


@dataclass(frozen=True, slots=True)
class Job:
    """One job as the supervisor sees it: an id, the model, and ciphertext."""

    job_id: str
    model: str
    sealed: bytes

    @property
    def digest(self) -> str:
        """SHA-256 of model and ciphertext: the identity of a resent job (poison tracking)."""
        return hashlib.sha256(self.model.encode() + b"\0" + self.sealed).hexdigest()


@dataclass(frozen=True, slots=True)
class JobResult:
    """The outcome of a job: sealed output on success, a reason otherwise (never plaintext)."""

    job_id: str
    model: str
    status: Status
    sealed: bytes | None = None
    reason: str = ""
    compute_ms: float = 0.0
    total_ms: float = 0.0
    worker_pid: int | None = None

    @property
    def ok(self) -> bool:
        """Whether the job produced an output."""
        return self.status == "ok"


@dataclass(frozen=True, slots=True)
class Request:
    """An opened request (worker side only)."""

    op: Literal["encode", "generate"]
    reply_to: bytes
    texts: tuple[str, ...] = ()
    max_new_tokens: int = 0
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# -- client side -----------------------------------------------------------------------------


def seal_encode_job(
    job_id: str, model: str, worker_public_key: bytes, texts: Sequence[str]
) -> tuple[Job, bytes]:
    """Seal an embedding request; returns the job and the client's private reply key."""
    return _seal(job_id, model, worker_public_key, {"op": "encode", "texts": list(texts)})


def seal_generate_job(
    job_id: str,
    model: str,
    worker_public_key: bytes,
    prompts: Sequence[str],
    *,
    max_new_tokens: int,
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int | None = None,
) -> tuple[Job, bytes]:
    """Seal a generation request; returns the job and the client's private reply key."""
    body = {
        "op": "generate",
        "prompts": list(prompts),
        "max_new_tokens": max_new_tokens,
        "temperature": temperature,
        "top_p": top_p,
        "seed": seed,
    }
    return _seal(job_id, model, worker_public_key, body)


def _seal(
    job_id: str, model: str, worker_public_key: bytes, body: dict[str, Any]
) -> tuple[Job, bytes]:
    reply = generate_keypair()
    plaintext = cbor2.dumps({"v": 1, **body, "reply_to": reply.public})
    return Job(job_id, model, seal(worker_public_key, plaintext, input_info(model))), reply.private


def open_output(result: JobResult, client_private_key: bytes) -> dict[str, Any]:
    """Open a successful result with the client's reply key.

    Raises:
        HpkeError: the output does not open.
        ValueError: the result carries no output.
    """
    if result.sealed is None:
        raise ValueError(f"job {result.job_id} has no output ({result.status}: {result.reason})")
    output = cbor2.loads(open_sealed(client_private_key, result.sealed, output_info(result.model)))
    if not isinstance(output, dict):
        raise ValueError("output is not a CBOR map")
    return output


# -- worker side -----------------------------------------------------------------------------


def open_request(
    sealed: bytes, model: str, worker_private_key: bytes | X25519PrivateKey
) -> Request:
    """Open and validate a sealed request for `model`.

    Raises:
        JobInputError: the ciphertext is too short or fails authentication (cryptography's
            InvalidTag: wrong key, wrong purpose or tampered), or the plaintext is not a valid
            request; naming what is wrong, never echoing the input.
        Exception: anything else (a bad worker key, a library that does not load) is the
            node's failure and propagates unchanged.
    """
    key = (
        worker_private_key
        if isinstance(worker_private_key, X25519PrivateKey)
        else X25519PrivateKey.from_private_bytes(worker_private_key)
    )
    if len(sealed) < ENC_BYTES + TAG_BYTES:
        raise JobInputError(f"sealed message of {len(sealed)} bytes is too short")
    try:
        plaintext = SUITE.decrypt(sealed, key, info=input_info(model))
    except InvalidTag:
        # Only the AEAD's verdict is the client's: say nothing about the contents.
        raise JobInputError(
            "sealed message does not open (wrong key, wrong purpose or tampered)"
        ) from None
    try:
        raw = cbor2.loads(plaintext)
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError):
        # What malformed CBOR raises; a MemoryError or a broken cbor2 is the node's.
        raise JobInputError("request is not CBOR") from None
    if not isinstance(raw, dict):
        raise JobInputError("request is not a CBOR map")
    if raw.get("v") != 1:
        raise JobInputError("request version must be 1")
    reply_to = raw.get("reply_to")
    if not isinstance(reply_to, bytes) or len(reply_to) != KEY_BYTES:
        raise JobInputError(f"reply_to must be a {KEY_BYTES}-byte X25519 public key")
    op = raw.get("op")
    if op == "encode":
        texts = _strings(raw.get("texts"), "texts", MAX_TEXTS)
        return Request("encode", reply_to, texts)
    if op == "generate":
        prompts = _strings(raw.get("prompts"), "prompts", MAX_PROMPTS)
        max_new = raw.get("max_new_tokens")
        if (
            not isinstance(max_new, int)
            or isinstance(max_new, bool)
            or not 1 <= max_new <= MAX_NEW_TOKENS
        ):
            raise JobInputError(f"max_new_tokens must be an integer from 1 to {MAX_NEW_TOKENS}")
        temperature = _number(raw.get("temperature", 0.0), "temperature", 0.0, 10.0)
        top_p = _number(raw.get("top_p", 1.0), "top_p", 0.0, 1.0)
        if top_p <= 0.0:
            raise JobInputError("top_p must be above 0")
        seed = raw.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise JobInputError("seed must be an integer or null")
        return Request("generate", reply_to, prompts, max_new, temperature, top_p, seed)
    raise JobInputError("op must be 'encode' or 'generate'")


def seal_output(request: Request, model: str, output: dict[str, Any]) -> bytes:
    """Seal an output map to the request's reply key.

    Raises:
        JobInputError: the client's reply key cannot be sealed to (a low-order point).
    """
    plaintext = cbor2.dumps({"v": 1, **output})
    try:
        return seal(request.reply_to, plaintext, output_info(model))
    except HpkeError as exc:
        raise JobInputError(f"reply_to: {exc}") from None


def _strings(raw: Any, name: str, limit: int) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw:
        raise JobInputError(f"{name} must be a non-empty list of strings")
    if len(raw) > limit:
        raise JobInputError(f"{name} holds {len(raw)} items, at most {limit} are allowed")
    for i, item in enumerate(raw):
        if not isinstance(item, str):
            raise JobInputError(f"{name}[{i}] must be a string")
        if len(item) > MAX_TEXT_CHARS:
            raise JobInputError(f"{name}[{i}] is longer than {MAX_TEXT_CHARS} characters")
    return tuple(raw)


def _number(raw: Any, name: str, lo: float, hi: float) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not lo <= raw <= hi:
        raise JobInputError(f"{name} must be a number from {lo} to {hi}")
    return float(raw)
