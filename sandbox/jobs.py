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
             {"v": 1, "op": "chat", "messages": [{"role": "system" | "user" | "assistant",
                                                  "content": str}, ...],
              "max_new_tokens": int, "temperature": float | None, "top_p": float | None,
              "seed": int | None, "stop": [str, ...], "reply_to": bytes(32)}
             generate and chat may add "stream": true (`sandbox.partials`: chunks first)
    output   {"v": 1, "embeddings": [[float, ...], ...]}    or    {"v": 1, "texts": [str, ...]}
             or (chat) {"v": 1, "message": {"role": "assistant", "content": str},
                        "finish_reason": "stop" | "length"}

A chat request is rendered with the model's own chat template; a null (or absent) temperature
or top_p takes the model's default (its generation config), and ``max_new_tokens`` is bounded
again by the model's own limit in the worker. ``stop`` strings end the reply where the first
one appears (it is not part of the reply); ``finish_reason`` is ``stop`` for an eos token or a
stop string and ``length`` when ``max_new_tokens`` ran out.

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
MAX_MESSAGES: Final = 256
MAX_CHAT_CHARS: Final = 200_000
"""The most characters of all a chat's message contents together."""
MAX_STOP: Final = 8
MAX_STOP_CHARS: Final = 128
CHAT_ROLES: Final = ("system", "user", "assistant")

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
class ChatMessage:
    """One turn of a chat request."""

    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True, slots=True)
class Request:
    """An opened request (worker side only). ``temperature`` and ``top_p`` are None only in a
    chat request that leaves them to the model."""

    op: Literal["encode", "generate", "chat"]
    reply_to: bytes
    texts: tuple[str, ...] = ()
    max_new_tokens: int = 0
    temperature: float | None = 0.0
    top_p: float | None = 1.0
    seed: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    messages: tuple[ChatMessage, ...] = ()
    stop: tuple[str, ...] = ()
    stream: bool = False


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
    stream: bool = False,
) -> tuple[Job, bytes]:
    """Seal a generation request; returns the job and the client's private reply key."""
    body = {
        **({"stream": True} if stream else {}),
        "op": "generate",
        "prompts": list(prompts),
        "max_new_tokens": max_new_tokens,
        "temperature": temperature,
        "top_p": top_p,
        "seed": seed,
    }
    return _seal(job_id, model, worker_public_key, body)


def seal_chat_job(
    job_id: str,
    model: str,
    worker_public_key: bytes,
    messages: Sequence[tuple[str, str]],
    *,
    max_new_tokens: int,
    temperature: float | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    stop: Sequence[str] = (),
    stream: bool = False,
) -> tuple[Job, bytes]:
    """Seal a chat request of (role, content) turns; returns the job and the reply key."""
    body = {
        **({"stream": True} if stream else {}),
        "op": "chat",
        "messages": [{"role": role, "content": content} for role, content in messages],
        "max_new_tokens": max_new_tokens,
        "temperature": temperature,
        "top_p": top_p,
        "seed": seed,
        "stop": list(stop),
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
    op, stream = raw.get("op"), raw.get("stream", False)
    if not isinstance(stream, bool) or (stream and op not in ("generate", "chat")):
        raise JobInputError("stream must be a boolean, and true only for generate or chat")
    if op == "encode":
        return Request("encode", reply_to, _strings(raw.get("texts"), "texts", MAX_TEXTS))
    if op == "generate":
        prompts = _strings(raw.get("prompts"), "prompts", MAX_PROMPTS)
        t = _number(raw.get("temperature", 0.0), "temperature", 0.0, 10.0)
        max_new, p = _max_new(raw), _top_p(raw.get("top_p", 1.0))
        return Request("generate", reply_to, prompts, max_new, t, p, _seed(raw), stream=stream)
    if op == "chat":
        messages = _messages(raw.get("messages"))
        given_t, given_p = raw.get("temperature"), raw.get("top_p")
        return Request(
            "chat",
            reply_to,
            max_new_tokens=_max_new(raw),
            temperature=None if given_t is None else _number(given_t, "temperature", 0.0, 10.0),
            top_p=None if given_p is None else _top_p(given_p),
            seed=_seed(raw),
            messages=messages,
            stop=_stop(raw.get("stop", [])),
            stream=stream,
        )
    raise JobInputError("op must be 'encode', 'generate' or 'chat'")


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


def _max_new(raw: dict[Any, Any]) -> int:
    max_new = raw.get("max_new_tokens")
    if (
        not isinstance(max_new, int)
        or isinstance(max_new, bool)
        or not 1 <= max_new <= MAX_NEW_TOKENS
    ):
        raise JobInputError(f"max_new_tokens must be an integer from 1 to {MAX_NEW_TOKENS}")
    return max_new


def _top_p(raw: Any) -> float:
    top_p = _number(raw, "top_p", 0.0, 1.0)
    if top_p <= 0.0:
        raise JobInputError("top_p must be above 0")
    return top_p


def _seed(raw: dict[Any, Any]) -> int | None:
    seed = raw.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise JobInputError("seed must be an integer or null")
    return seed


def _messages(raw: Any) -> tuple[ChatMessage, ...]:
    if not isinstance(raw, list) or not raw:
        raise JobInputError("messages must be a non-empty list of {role, content} maps")
    if len(raw) > MAX_MESSAGES:
        raise JobInputError(f"messages holds {len(raw)} items, at most {MAX_MESSAGES} are allowed")
    out: list[ChatMessage] = []
    total = 0
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or set(item) != {"role", "content"}:
            raise JobInputError(f"messages[{i}] must be a map of exactly role and content")
        role, content = item["role"], item["content"]
        if role not in CHAT_ROLES:
            raise JobInputError(f"messages[{i}].role must be one of {', '.join(CHAT_ROLES)}")
        if not isinstance(content, str):
            raise JobInputError(f"messages[{i}].content must be a string")
        total += len(content)
        if len(content) > MAX_TEXT_CHARS or total > MAX_CHAT_CHARS:
            raise JobInputError(
                f"messages[{i}] exceeds the limit of {MAX_TEXT_CHARS} characters per message "
                f"or {MAX_CHAT_CHARS} per chat"
            )
        out.append(ChatMessage(role, content))
    return tuple(out)


def _stop(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or len(raw) > MAX_STOP:
        raise JobInputError(f"stop must be a list of at most {MAX_STOP} strings")
    for i, item in enumerate(raw):
        if not isinstance(item, str) or not 1 <= len(item) <= MAX_STOP_CHARS:
            raise JobInputError(f"stop[{i}] must be a string of 1 to {MAX_STOP_CHARS} characters")
    return tuple(raw)


def _number(raw: Any, name: str, lo: float, hi: float) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not lo <= raw <= hi:
        raise JobInputError(f"{name} must be a number from {lo} to {hi}")
    return float(raw)
