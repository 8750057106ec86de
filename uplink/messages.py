"""The message types of protocol version 1 and the fields of their bodies.

Each type belongs to one direction (who may send it) and has a body schema: field name ->
(accepted Python types, required). `check_body` validates a decoded body against it, so code past
the codec can index bodies without re-checking. ``docs/protocol.md`` is the prose version of
this table; keep the two in step.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from typing import Any, Final

from .errors import BadBody, UnknownType
from .untrusted import MAX_ID_CHARS, MAX_JOB_ID_CHARS, is_plain_id, shown

VERSION: Final = 1
DISPATCHER_ID: Final = "dispatcher"


class Direction(enum.StrEnum):
    """Who sends a message type to whom."""

    TO_NODE = "dispatcher->node"
    FROM_NODE = "node->dispatcher"
    FROM_CLIENT = "client->dispatcher"
    TO_CLIENT = "dispatcher->client"


class FailureReason(enum.StrEnum):
    """Why a job has no result (``failure.reason``)."""

    DECLINED = "declined"  # refused at once on offer; `detail` says why
    PREEMPTED = "preempted"  # the car needed its GPU back (door, gear, curtailment...)
    CRASHED = "crashed"  # the worker or the daemon died while the job ran
    POISON = "poison"  # the input could not be opened or made the model fail
    EXPIRED = "expired"  # the deadline passed before (or while) it ran
    CANCELLED = "cancelled"  # the dispatcher cancelled it (another car won)


class Tier(enum.StrEnum):
    """Service tier: interactive needs a fast unmetered link; batch runs anywhere."""

    INTERACTIVE = "interactive"
    BATCH = "batch"


_B, _S, _N, _L, _M, _BOOL = (bytes,), (str,), (int, float), (list,), (dict,), (bool,)
Schema = Mapping[str, tuple[tuple[type, ...], bool]]

SCHEMAS: Final[Mapping[str, tuple[Direction, Schema]]] = {
    # dispatcher -> node
    "offer": (
        Direction.TO_NODE,
        {
            "job": (_S, True),
            "model": (_S, True),
            "tier": (_S, True),
            "deadline": (_N, True),
            "input": (_B, True),
        },
    ),
    "cancel": (Direction.TO_NODE, {"job": (_S, True), "reason": (_S, False)}),
    "curtail": (
        Direction.TO_NODE,
        {
            "id": (_S, True),
            "start": (_N, True),
            "until": (_N, True),
            "max_power_w": (_N, True),
        },
    ),
    "drain": (Direction.TO_NODE, {}),
    "resume": (Direction.TO_NODE, {}),
    "manifest": (Direction.TO_NODE, {"name": (_S, True), "document": (_B, True)}),
    "receipt": (
        Direction.TO_NODE,
        {
            "job": (_S, True),
            "receipt": (_S, True),
            "credit": (_N, True),
            "currency": (_S, True),
        },
    ),
    # node -> dispatcher
    "status": (
        Direction.FROM_NODE,
        {
            "online": (_BOOL, True),
            "accepting": (_BOOL, False),
            "reasons": (_L, False),
            "models": (_L, False),
            "power_w": (_N, False),
            "runway_s": (_N, False),
            "link": (_M, False),
            "tier": (_S, False),
            "worker_key": (_B, False),
            "running": (_N, False),
            "slots": (_N, False),
            "draining": (_BOOL, False),
        },
    ),
    "accept": (Direction.FROM_NODE, {"job": (_S, True)}),
    "result": (
        Direction.FROM_NODE,
        {
            "job": (_S, True),
            "output": (_B, True),
            "timings": (_M, True),
            "energy_j": (_N, True),
        },
    ),
    "failure": (
        Direction.FROM_NODE,
        {
            "job": (_S, True),
            "reason": (_S, True),
            "detail": (_S, False),
        },
    ),
    "control_ack": (
        Direction.FROM_NODE,
        {
            "ref": (_S, True),
            "ok": (_BOOL, True),
            "detail": (_S, False),
        },
    ),
    # client -> dispatcher
    "quote": (
        Direction.FROM_CLIENT,
        {
            "job": (_S, True),
            "model": (_S, True),
            "tier": (_S, True),
            "k": (_N, True),
            "spares": (_N, False),
        },
    ),
    "submit": (
        Direction.FROM_CLIENT,
        {
            "job": (_S, True),
            "deadline": (_N, True),
            "inputs": (_M, True),
        },
    ),
    # dispatcher -> client
    "quote_reply": (Direction.TO_CLIENT, {"job": (_S, True), "cars": (_L, True)}),
    "job_result": (
        Direction.TO_CLIENT,
        {
            "job": (_S, True),
            "output": (_B, True),
            "timings": (_M, True),
            "energy_j": (_N, True),
            "car": (_S, True),
        },
    ),
    "job_failed": (
        Direction.TO_CLIENT,
        {
            "job": (_S, True),
            "reason": (_S, True),
            "detail": (_S, False),
        },
    ),
}


# Fields that name a job, a receipt or a control: bounded ids (see `check_body`).
_ID_FIELDS: Final[Mapping[str, int]] = {
    "job": MAX_JOB_ID_CHARS,
    "receipt": MAX_ID_CHARS,
    "ref": MAX_ID_CHARS,
    "id": MAX_JOB_ID_CHARS,
}


def direction_of(msg_type: str) -> Direction:
    """The direction of `msg_type`; raises `UnknownType` for a type version 1 does not have."""
    try:
        return SCHEMAS[msg_type][0]
    except KeyError:
        raise UnknownType(f"unknown message type {shown(msg_type)}") from None


def check_body(msg_type: str, body: Mapping[str, Any]) -> None:
    """Raise `BadBody` unless `body` has every required field of `msg_type` with its type.

    Unknown extra fields are allowed (a newer peer may add some); numbers must be finite;
    a job id is 1..`MAX_JOB_ID_CHARS` printable characters, so that every id derived from it
    (``<job>:job_result``) stays within the protocol's limit.
    """
    direction_of(msg_type)
    for name, (types, required) in SCHEMAS[msg_type][1].items():
        if name not in body:
            if required:
                raise BadBody(f"{msg_type}: missing field {name!r}")
            continue
        value = body[name]
        if isinstance(value, bool) and bool not in types:
            raise BadBody(f"{msg_type}: field {name!r} must be {_names(types)}, not a boolean")
        if not isinstance(value, types):
            raise BadBody(
                f"{msg_type}: field {name!r} must be {_names(types)}, not {type(value).__name__}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise BadBody(f"{msg_type}: field {name!r} must be finite, not {value}")
        if name in _ID_FIELDS and not is_plain_id(str(value), _ID_FIELDS[name]):
            raise BadBody(
                f"{msg_type}: field {name!r} must be 1..{_ID_FIELDS[name]} printable"
                f" characters, not {shown(value)}"
            )
    if msg_type in ("offer", "quote") and body["tier"] not in tuple(Tier):
        raise BadBody(
            f"{msg_type}: tier {shown(body['tier'])} is not one of {[t.value for t in Tier]}"
        )
    if msg_type == "failure" and body["reason"] not in tuple(FailureReason):
        raise BadBody(
            f"failure: reason {shown(body['reason'])} is not one of"
            f" {[r.value for r in FailureReason]}"
        )
    if msg_type == "receipt":
        _check_receipt(body)


def _check_receipt(body: Mapping[str, Any]) -> None:
    """A receipt names its job and itself, and carries a credit >= 0 in an ISO 4217 code."""
    if body["credit"] < 0:
        raise BadBody(f"receipt: credit must be >= 0, not {body['credit']}")
    if not is_currency(body["currency"]):
        raise BadBody(
            f"receipt: currency {shown(body['currency'])} is not an ISO 4217 code (3 capitals)"
        )


def is_currency(code: str) -> bool:
    """Whether `code` has the shape of an ISO 4217 currency code (``EUR``, ``USD``...)."""
    return len(code) == 3 and code.isascii() and code.isalpha() and code.isupper()


def _names(types: tuple[type, ...]) -> str:
    words = {
        bytes: "bytes",
        str: "text",
        int: "a number",
        float: "a number",
        list: "an array",
        dict: "a map",
        bool: "a boolean",
    }
    return " or ".join(sorted({words[t] for t in types}))
