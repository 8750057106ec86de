"""Message bodies: each declared field checked, each refusal naming its field, hostile values
shown shortened, and docs/protocol.md's tables in step with the declarations."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

from uplink.bodies import FailureBody, OfferBody
from uplink.errors import BadBody, UnknownType
from uplink.messages import SCHEMAS, FailureReason, Tier, check_body, parse_body

MINIMAL: dict[str, dict[str, Any]] = {
    "offer": {"job": "j", "model": "m", "tier": "batch", "deadline": 1, "input": b""},
    "cancel": {"job": "j"},
    "curtail": {"id": "c", "start": 0, "until": 1.5, "max_power_w": 0},
    "drain": {},
    "resume": {},
    "manifest": {"name": "m", "document": b"{}"},
    "receipt": {"job": "j", "receipt": "r", "credit": 0, "currency": "EUR"},
    "status": {"online": False},
    "accept": {"job": "j"},
    "result": {"job": "j", "output": b"", "timings": {}, "energy_j": 0.0},
    "failure": {"job": "j", "reason": "poison"},
    "control_ack": {"ref": "r", "ok": True},
    "quote": {"job": "j", "model": "m", "tier": "interactive", "k": 1},
    "submit": {"job": "j", "deadline": 1, "inputs": {}},
    "quote_reply": {"job": "j", "cars": []},
    "job_result": {"job": "j", "output": b"", "timings": {}, "energy_j": 1, "car": "a"},
    "job_failed": {"job": "j", "reason": "anything"},
    "partial": {"job": "j", "seq": 0, "chunk": b"c"},
    "job_partial": {"job": "j", "seq": 0, "chunk": b"c", "car": "a"},
}
OFFER = MINIMAL["offer"]
RECEIPT = MINIMAL["receipt"]


def test_every_type_has_a_minimal_body_that_passes() -> None:
    assert set(MINIMAL) == set(SCHEMAS)
    for msg_type, body in MINIMAL.items():
        check_body(msg_type, body)
        assert isinstance(parse_body(msg_type, body), SCHEMAS[msg_type][1])


def test_the_typed_body_keeps_values_and_names_the_choices() -> None:
    offer = parse_body("offer", {**OFFER, "deadline": 5})
    assert isinstance(offer, OfferBody)
    assert offer.tier is Tier.BATCH and offer.deadline == 5 and type(offer.deadline) is int
    failure = parse_body("failure", MINIMAL["failure"])
    assert isinstance(failure, FailureBody)
    assert failure.reason is FailureReason.POISON and failure.detail is msgspec.UNSET


def test_unknown_fields_are_allowed_and_left_unread() -> None:
    check_body("offer", {**OFFER, "later": [math.nan, {"x": object()}]})
    check_body("drain", {"why": None})


@pytest.mark.parametrize(
    ("msg_type", "change", "message"),
    [
        ("offer", {"job": KeyError}, "offer: missing field 'job'"),
        ("offer", {"deadline": "soon"}, "offer: field 'deadline' must be a number, not str"),
        ("offer", {"deadline": True}, "field 'deadline' must be a number, not a boolean"),
        ("offer", {"deadline": math.nan}, "offer: field 'deadline' must be finite, not nan"),
        ("offer", {"deadline": -math.inf}, "field 'deadline' must be finite, not -inf"),
        ("offer", {"input": "text"}, "offer: field 'input' must be bytes, not str"),
        ("offer", {"input": "aGVsbG8="}, "field 'input' must be bytes, not str"),  # no base64
        ("offer", {"model": b"m"}, "offer: field 'model' must be text, not bytes"),
        ("offer", {"tier": "gold"}, "offer: tier 'gold' is not one of ['interactive', 'batch']"),
        ("offer", {"tier": 1}, "offer: field 'tier' must be text, not int"),
        ("offer", {"job": ""}, "offer: field 'job' must be 1..128 printable characters, not ''"),
        ("offer", {"job": "j" * 129}, "field 'job' must be 1..128 printable characters"),
        ("offer", {"job": "a\nb"}, "field 'job' must be 1..128 printable characters, not 'a\\nb'"),
        ("offer", {"job": "a\u200bb"}, "field 'job' must be 1..128 printable"),
        ("offer", {1: "x"}, "offer: field names must be text"),
        ("receipt", {"credit": -0.5}, "receipt: credit must be >= 0, not -0.5"),
        ("receipt", {"credit": -1}, "receipt: credit must be >= 0, not -1"),
        ("receipt", {"credit": math.inf}, "receipt: field 'credit' must be finite, not inf"),
        ("receipt", {"receipt": "r" * 201}, "field 'receipt' must be 1..200 printable"),
        ("receipt", {"currency": "eur"}, "field 'currency' must be an ISO 4217 code (3 capitals)"),
        ("receipt", {"currency": "EUR\n"}, "must be an ISO 4217 code (3 capitals), not 'EUR\\n'"),
        ("receipt", {"currency": "ÉUR"}, "must be an ISO 4217 code"),
        ("status", {"online": 1}, "status: field 'online' must be a boolean, not int"),
        (
            "status",
            {"accepting": None},
            "status: field 'accepting' must be a boolean, not NoneType",
        ),
        ("status", {"link": []}, "status: field 'link' must be a map, not list"),
        ("status", {"models": "hash"}, "status: field 'models' must be an array, not str"),
        ("status", {"running": True}, "status: field 'running' must be a number, not a boolean"),
        ("failure", {"reason": "bored"}, "failure: reason 'bored' is not one of ['declined',"),
        ("failure", {"detail": 3}, "failure: field 'detail' must be text, not int"),
        ("control_ack", {"ref": ""}, "control_ack: field 'ref' must be 1..200 printable"),
        ("curtail", {"id": "c" * 129}, "curtail: field 'id' must be 1..128 printable"),
        ("partial", {"seq": -1}, "partial: seq must be >= 0, not -1"),
        ("partial", {"seq": 1_000_001}, "partial: seq must be <= 1e+06, not 1000001"),
        ("partial", {"seq": True}, "partial: field 'seq' must be a number, not a boolean"),
        ("partial", {"chunk": b""}, "partial: field 'chunk' must be 1..24576 bytes, not b''"),
        ("partial", {"chunk": b"x" * 24577}, "field 'chunk' must be 1..24576 bytes"),
        ("partial", {"chunk": "text"}, "partial: field 'chunk' must be bytes, not str"),
        ("partial", {"job": "a\nb"}, "field 'job' must be 1..128 printable characters"),
        ("job_partial", {"car": ""}, "job_partial: field 'car' must be 1..200 printable"),
        ("quote", {"tier": "gold"}, "quote: tier 'gold' is not one of"),
        ("submit", {"inputs": []}, "submit: field 'inputs' must be a map, not list"),
    ],
)
def test_a_refusal_names_its_field(msg_type: str, change: dict[Any, Any], message: str) -> None:
    body: dict[Any, Any] = {**MINIMAL[msg_type]}
    for key, value in change.items():
        if value is KeyError:
            del body[key]
        else:
            body[key] = value
    if msg_type == "status":
        body.setdefault("online", True)
    with pytest.raises(BadBody) as caught:
        check_body(msg_type, body)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tier", "x" * 1_000_000),
        ("job", "j" * 1_000_000),
        ("job", "\x00" * 1_000_000),
        ("tier", "gold - at `$.job`"),
    ],
    ids=["long-tier", "long-job", "nul-job", "quoted-path"],
)
def test_a_hostile_value_is_shown_shortened(field: str, value: str) -> None:
    with pytest.raises(BadBody) as caught:
        check_body("offer", {**OFFER, field: value})
    text = str(caught.value)
    assert len(text) < 600 and "\x00" not in text  # as bounded as any refusal
    assert f"{field} " in text or f"'{field}'" in text
    if len(value) > 100:
        assert f"({len(value)} in all)" in text


def test_unknown_types_and_non_maps_are_refused() -> None:
    with pytest.raises(UnknownType, match="unknown message type 'nope'"):
        check_body("nope", {})
    with pytest.raises(BadBody, match="offer: body must be a map"):
        check_body("offer", [1])  # type: ignore[arg-type]


def _documented() -> dict[str, dict[str, bool]]:
    """type -> field -> required, from the tables of docs/protocol.md section 4."""
    text = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text()
    section = text.split("## 4. Messages", 1)[1].split("## 5.", 1)[0]
    tables: dict[str, dict[str, bool]] = {}
    current = ""
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("| ") or len(cells) < 3 or cells[0] in ("type", "---"):
            continue
        if cells[0]:
            current = cells[0].strip("`")
            tables.setdefault(current, {})
        for name in re.findall(r"`([a-z_]+)`", cells[1]):
            tables[current][name] = "optional" not in cells[2]
    return tables


def test_docs_protocol_md_lists_the_declared_fields() -> None:
    documented = _documented()
    assert set(documented) == set(SCHEMAS)
    for msg_type, (_, shape) in SCHEMAS.items():
        info = msgspec.inspect.type_info(shape)
        assert isinstance(info, msgspec.inspect.StructType)
        declared = {f.name: f.required for f in info.fields}
        assert documented[msg_type] == declared, msg_type


def test_a_status_names_its_node_kind_and_a_hostile_kind_is_refused() -> None:
    from uplink.link import LinkInfo
    from uplink.node_port import NodeStatus
    from uplink.status import status_body

    body = status_body(
        NodeStatus(accepting=False, kind="robot"),
        link=LinkInfo("wifi", False, "config"),
        rtt_ms=None,
        tier=Tier.BATCH,
        running=0,
        draining=False,
    )
    assert body["kind"] == "robot"
    check_body("status", body)
    for hostile in ("x" * 500, "car\n<3>forged", 7):
        with pytest.raises(BadBody, match="kind"):
            check_body("status", {"online": True, "kind": hostile})
