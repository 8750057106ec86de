"""The bodies of protocol version 1 messages, declared as msgspec structs.

One `Struct` per message type (`OfferBody`, `ReceiptBody`...): field types, ``Meta`` limits,
``UNSET`` for an optional field, and the two choices a body names (`Tier`, `FailureReason`).
`uplink.messages.check_body` validates a decoded body against them; ``docs/protocol.md``
(section 4) is their prose version: keep the two in step.

Bodies come from the network, so the declarations are strict: no type is coerced (a boolean
is no number, text is no bytes), numbers are finite, ids are bounded. Unknown extra fields are
allowed (a newer peer may add some) and left unread (msgspec's default).
"""

from __future__ import annotations

import enum
import sys
from typing import Annotated, Any, Final, TypeAlias

import msgspec
from msgspec import UNSET, UnsetType

from sandbox.partials import MAX_CHUNK_BYTES, MAX_SEQ

from .untrusted import MAX_ID_CHARS, MAX_JOB_ID_CHARS


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


# The field types of the bodies. `Finite` refuses NaN and the infinities by its bounds (both
# fail a comparison); an integer is a number too, kept as an int. A plain id is also checked
# to be printable (`PRINTABLE`), which no Meta can say: `check_body` does.
FLOAT_MAX: Final = sys.float_info.max
PRINTABLE: Final = {"printable": True}  # Meta.extra of an id that must be printable
Finite: TypeAlias = Annotated[float, msgspec.Meta(ge=-FLOAT_MAX, le=FLOAT_MAX)]
Number: TypeAlias = int | Finite
NonNegative: TypeAlias = (
    Annotated[int, msgspec.Meta(ge=0)] | Annotated[float, msgspec.Meta(ge=0, le=FLOAT_MAX)]
)
JobId: TypeAlias = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_JOB_ID_CHARS,
        description=f"1..{MAX_JOB_ID_CHARS} printable characters",
        extra=PRINTABLE,
    ),
]
PlainId: TypeAlias = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_ID_CHARS,
        description=f"1..{MAX_ID_CHARS} printable characters",
        extra=PRINTABLE,
    ),
]
Seq: TypeAlias = Annotated[int, msgspec.Meta(ge=0, le=MAX_SEQ)]
Chunk: TypeAlias = Annotated[
    bytes,
    msgspec.Meta(
        min_length=1, max_length=MAX_CHUNK_BYTES, description=f"1..{MAX_CHUNK_BYTES} bytes"
    ),
]
Currency: TypeAlias = Annotated[
    str, msgspec.Meta(pattern=r"\A[A-Z]{3}\Z", description="an ISO 4217 code (3 capitals)")
]


class Body(msgspec.Struct, frozen=True, kw_only=True):
    """Base of the body structs; unknown fields are ignored (msgspec's default)."""


# dispatcher -> node


class OfferBody(Body, frozen=True, kw_only=True):
    """A job offered to the car: run `model` on the sealed `input` before `deadline`."""

    job: JobId
    model: str
    tier: Tier
    deadline: Number
    input: bytes


class CancelBody(Body, frozen=True, kw_only=True):
    """Stop `job` (another car won, or the deadline passed)."""

    job: JobId
    reason: str | UnsetType = UNSET


class CurtailBody(Body, frozen=True, kw_only=True):
    """A demand-response window: at most `max_power_w` from `start` until `until`."""

    id: JobId
    start: Number
    until: Number
    max_power_w: Number


class DrainBody(Body, frozen=True, kw_only=True):
    """Take no new jobs; running ones finish."""


class ResumeBody(Body, frozen=True, kw_only=True):
    """Take jobs again."""


class ManifestBody(Body, frozen=True, kw_only=True):
    """A model's signed ``manifest.json`` (`sandbox.models.manifest`)."""

    name: str
    document: bytes


class ReceiptBody(Body, frozen=True, kw_only=True):
    """A receipt names its job and itself, and carries a credit >= 0 in an ISO 4217 code."""

    job: JobId
    receipt: PlainId
    credit: NonNegative
    currency: Currency


# node -> dispatcher


class StatusBody(Body, frozen=True, kw_only=True):
    """What the car can do now; only `online` is required (the Will has no more)."""

    online: bool
    accepting: bool | UnsetType = UNSET
    reasons: list[Any] | UnsetType = UNSET
    models: list[Any] | UnsetType = UNSET
    power_w: Number | UnsetType = UNSET
    runway_s: Number | UnsetType = UNSET
    link: dict[Any, Any] | UnsetType = UNSET
    tier: str | UnsetType = UNSET
    worker_key: bytes | UnsetType = UNSET
    running: Number | UnsetType = UNSET
    slots: Number | UnsetType = UNSET
    draining: bool | UnsetType = UNSET
    kind: PlainId | UnsetType = UNSET


class AcceptBody(Body, frozen=True, kw_only=True):
    """The offered `job` is journaled and starting."""

    job: JobId


class ResultBody(Body, frozen=True, kw_only=True):
    """The output of `job`, sealed to the client, with what it took."""

    job: JobId
    output: bytes
    timings: dict[Any, Any]
    energy_j: Number


class PartialBody(Body, frozen=True, kw_only=True):
    """Chunk `seq` (0, 1, ...) of a streamed job's text, sealed to the client, before its
    result (`sandbox.partials`)."""

    job: JobId
    seq: Seq
    chunk: Chunk


class FailureBody(Body, frozen=True, kw_only=True):
    """Why `job` has no result from this car."""

    job: JobId
    reason: FailureReason
    detail: str | UnsetType = UNSET


class ControlAckBody(Body, frozen=True, kw_only=True):
    """Whether the control message `ref` was applied."""

    ref: PlainId
    ok: bool
    detail: str | UnsetType = UNSET


# client -> dispatcher


class QuoteBody(Body, frozen=True, kw_only=True):
    """A client asks which cars would run `job` (`k` at once, `spares` more)."""

    job: JobId
    model: str
    tier: Tier
    k: Number
    spares: Number | UnsetType = UNSET


class SubmitBody(Body, frozen=True, kw_only=True):
    """A quoted job, with its request sealed to each car (`inputs` by alias)."""

    job: JobId
    deadline: Number
    inputs: dict[Any, Any]


# dispatcher -> client


class QuoteReplyBody(Body, frozen=True, kw_only=True):
    """The cars a job would run on, in offer order."""

    job: JobId
    cars: list[Any]


class JobResultBody(Body, frozen=True, kw_only=True):
    """The winning result of `job`, forwarded to its client."""

    job: JobId
    output: bytes
    timings: dict[Any, Any]
    energy_j: Number
    car: str


class JobPartialBody(Body, frozen=True, kw_only=True):
    """Chunk `seq` of a streamed job's text from the car `car` (an alias), forwarded."""

    job: JobId
    seq: Seq
    chunk: Chunk
    car: PlainId


class JobFailedBody(Body, frozen=True, kw_only=True):
    """Why `job` has no result at all."""

    job: JobId
    reason: str
    detail: str | UnsetType = UNSET
