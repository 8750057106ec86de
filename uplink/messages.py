"""The message types of protocol version 1 and the fields of their bodies.

Each type belongs to one direction (who may send it) and has a body struct declared in
`uplink.bodies` (`SCHEMAS`: type -> (direction, struct)). `check_body` validates a decoded
body against it (`parse_body` also returns the typed struct), so code past the codec can index
bodies without re-checking. A refusal is a `BadBody` that names the field and shows the
refused value only through `shown` (bounded and escaped: the value is a stranger's).
"""

from __future__ import annotations

import enum
import functools
import re
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Final

import msgspec

from .bodies import (
    FLOAT_MAX,
    PRINTABLE,
    AcceptBody,
    Body,
    CancelBody,
    ControlAckBody,
    CurtailBody,
    DrainBody,
    FailureBody,
    FailureReason,
    JobFailedBody,
    JobPartialBody,
    JobResultBody,
    ManifestBody,
    OfferBody,
    PartialBody,
    QuoteBody,
    QuoteReplyBody,
    ReceiptBody,
    ResultBody,
    ResumeBody,
    StatusBody,
    SubmitBody,
    Tier,
)
from .errors import BadBody, UnknownType
from .untrusted import shown

__all__ = [
    "DISPATCHER_ID",
    "SCHEMAS",
    "VERSION",
    "Body",
    "Direction",
    "FailureReason",
    "Tier",
    "check_body",
    "direction_of",
    "is_currency",
    "parse_body",
]

VERSION: Final = 1
DISPATCHER_ID: Final = "dispatcher"


class Direction(enum.StrEnum):
    """Who sends a message type to whom."""

    TO_NODE = "dispatcher->node"
    FROM_NODE = "node->dispatcher"
    FROM_CLIENT = "client->dispatcher"
    TO_CLIENT = "dispatcher->client"


SCHEMAS: Final[Mapping[str, tuple[Direction, type[Body]]]] = {
    "offer": (Direction.TO_NODE, OfferBody),
    "cancel": (Direction.TO_NODE, CancelBody),
    "curtail": (Direction.TO_NODE, CurtailBody),
    "drain": (Direction.TO_NODE, DrainBody),
    "resume": (Direction.TO_NODE, ResumeBody),
    "manifest": (Direction.TO_NODE, ManifestBody),
    "receipt": (Direction.TO_NODE, ReceiptBody),
    "status": (Direction.FROM_NODE, StatusBody),
    "accept": (Direction.FROM_NODE, AcceptBody),
    "result": (Direction.FROM_NODE, ResultBody),
    "partial": (Direction.FROM_NODE, PartialBody),
    "failure": (Direction.FROM_NODE, FailureBody),
    "control_ack": (Direction.FROM_NODE, ControlAckBody),
    "quote": (Direction.FROM_CLIENT, QuoteBody),
    "submit": (Direction.FROM_CLIENT, SubmitBody),
    "quote_reply": (Direction.TO_CLIENT, QuoteReplyBody),
    "job_result": (Direction.TO_CLIENT, JobResultBody),
    "job_partial": (Direction.TO_CLIENT, JobPartialBody),
    "job_failed": (Direction.TO_CLIENT, JobFailedBody),
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

    Raises:
        UnknownType: `msg_type` is not a version 1 type.
        BadBody: naming the first field refused, with the refused value shortened.
    """
    parse_body(msg_type, body)


def parse_body(msg_type: str, body: Mapping[str, Any]) -> Body:
    """`body` as the struct of `msg_type` (its `SCHEMAS` entry); raises as `check_body`.

    Byte strings are not copied; arrays and maps are copied one level deep (their items are
    the body's own).
    """
    direction_of(msg_type)
    shape = SCHEMAS[msg_type][1]
    data = dict(body) if isinstance(body, Mapping) and not isinstance(body, dict) else body
    try:
        # builtin_types: text is never base64-decoded into a bytes field.
        parsed = msgspec.convert(data, shape, strict=True, builtin_types=(bytes,))
    except msgspec.ValidationError as exc:
        raise _refusal(msg_type, shape, data, str(exc)) from None
    for name in _plain_ids(shape):
        value = getattr(parsed, name)
        if value is not msgspec.UNSET and not value.isprintable():
            raise BadBody(_field_message(msg_type, shape, name, data[name]))
    return parsed


def is_currency(code: str) -> bool:
    """Whether `code` has the shape of an ISO 4217 currency code (``EUR``, ``USD``...)."""
    return len(code) == 3 and code.isascii() and code.isalpha() and code.isupper()


_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]+)`$")
_EXPECTED = re.compile(r"^Expected `(?P<types>[^`]+)`, got `[^`]+`$")
_BOUND = re.compile(r"^Expected `[^`]+` (?P<op>[<>]=?) (?P<n>\S+)$")
_WORDS: Final = {
    "bytes": "bytes",
    "str": "text",
    "int": "a number",
    "float": "a number",
    "array": "an array",
    "object": "a map",
    "bool": "a boolean",
}


def _refusal(msg_type: str, shape: type[Body], data: Mapping[str, Any], text: str) -> BadBody:
    """msgspec's refusal `text` in the protocol's words, naming the field.

    Only the path msgspec names (always last: ``... - at `$.tier```) and the kind of problem
    are read from `text`; the value shown is taken from `data` and shortened. A hostile value
    that msgspec quotes in `text` is therefore never repeated.
    """
    what, sep, at = text.rpartition(" - at `")
    missing = _MISSING.match(what if sep else text)
    if missing:  # at the top level msgspec names no path
        return BadBody(f"{msg_type}: missing field {missing['name']!r}")
    if not sep:
        return BadBody(f"{msg_type}: body must be a map")
    if not at.startswith("$.") or at[2:-1] not in data:  # "`key` in `$`": a key no text
        return BadBody(f"{msg_type}: field names must be text")
    name = at[2:-1]
    value = data[name]
    expected = _EXPECTED.match(what)
    if expected:
        words = " or ".join(sorted({_WORDS.get(t, t) for t in expected["types"].split(" | ")}))
        got = "a boolean" if isinstance(value, bool) else type(value).__name__
        return BadBody(f"{msg_type}: field {name!r} must be {words}, not {got}")
    return BadBody(_field_message(msg_type, shape, name, value, _BOUND.match(what)))


def _field_message(
    msg_type: str,
    shape: type[Body],
    name: str,
    value: Any,
    bound: re.Match[str] | None = None,
) -> str:
    """Why `value`, of the right type, is refused for field `name`."""
    hint = _hints(shape)[name]
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return f"{msg_type}: {name} {shown(value)} is not one of {[m.value for m in hint]}"
    if isinstance(value, float) and not -FLOAT_MAX <= value <= FLOAT_MAX:
        return f"{msg_type}: field {name!r} must be finite, not {value}"
    if bound:
        return f"{msg_type}: {name} must be {bound['op']} {float(bound['n']):g}, not {shown(value)}"
    meta = _meta(hint)
    if meta is not None and meta.description:
        return f"{msg_type}: field {name!r} must be {meta.description}, not {shown(value)}"
    return f"{msg_type}: field {name!r} is refused: {shown(value)}"  # pragma: no cover


@functools.cache
def _hints(shape: type[Body]) -> dict[str, Any]:
    return typing.get_type_hints(shape, include_extras=True)


def _meta(hint: Any) -> msgspec.Meta | None:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        # An optional field (``PlainId | UnsetType``): the constraint of its declared type.
        found = (_meta(arg) for arg in typing.get_args(hint))
        return next((m for m in found if m is not None), None)
    if typing.get_origin(hint) is not Annotated:
        return None
    return next((m for m in typing.get_args(hint)[1:] if isinstance(m, msgspec.Meta)), None)


@functools.cache
def _plain_ids(shape: type[Body]) -> tuple[str, ...]:
    """The fields of `shape` declared as printable ids (`JobId`, `PlainId`)."""
    return tuple(
        name
        for name, hint in _hints(shape).items()
        if (meta := _meta(hint)) is not None and meta.extra == PRINTABLE
    )
