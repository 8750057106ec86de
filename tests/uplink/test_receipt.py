"""Receipts: the codec, the car's once-per-id rule (through its journal), the price list."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from uplink import errors
from uplink.dispatcher.pricing import PriceList
from uplink.envelope import Opener, Signer
from uplink.journal import Journal
from uplink.local_port import LocalPort, Receipt
from uplink.messages import DISPATCHER_ID, Direction
from uplink.receipts import take_receipt
from uplink.replay import ReplayCache
from uplink.store import NodeStore

NOW = 1_800_000_000.0
KEY = Ed25519PrivateKey.generate()
RECEIPT = {"job": "j1", "receipt": "rcpt-1", "credit": 0.002, "currency": "EUR"}


def seal(
    body: dict[str, Any], *, key: Ed25519PrivateKey = KEY, now: float = NOW, ttl_s: float = 60
) -> bytes:
    return Signer(DISPATCHER_ID, key, clock=lambda: NOW).seal(
        "receipt", body, to="car1", ttl_s=ttl_s, msg_id=body["receipt"], now=now
    )


def opener(directions: tuple[Direction, ...] = (Direction.TO_NODE,)) -> Opener:
    return Opener(
        me="car1",
        keys={DISPATCHER_ID: KEY.public_key().public_bytes_raw()}.get,
        directions=directions,
        replay=ReplayCache(),
        clock=lambda: NOW,
    )


def unchecked(body: dict[str, Any]) -> bytes:
    """A correctly signed receipt whose body the signer's schema check would refuse."""
    inner = cbor2.dumps(
        {
            "v": 1,
            "t": "receipt",
            "id": "r",
            "src": DISPATCHER_ID,
            "to": "car1",
            "iat": NOW,
            "exp": NOW + 60,
            "b": body,
        },
        canonical=True,
    )
    return cbor2.dumps({"v": 1, "m": inner, "s": KEY.sign(inner)})


def test_receipt_round_trip() -> None:
    msg = opener().open(seal(RECEIPT))
    assert (msg.type, msg.id, msg.src) == ("receipt", "rcpt-1", DISPATCHER_ID)
    assert msg.body == RECEIPT


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"credit": None}, "missing field 'credit'"),
        ({"credit": "0.1"}, "'credit' must be a number"),
        ({"credit": -0.5}, "credit must be >= 0"),
        ({"credit": True}, "not a boolean"),
        ({"currency": "eur"}, "ISO 4217"),
        ({"currency": "EURO"}, "ISO 4217"),
        ({"receipt": ""}, "'receipt' must be 1..200"),
        ({"job": None}, "missing field 'job'"),
    ],
)
def test_bad_receipt_body_is_refused(change: dict[str, object], match: str) -> None:
    body = {k: v for k, v in {**RECEIPT, **change}.items() if v is not None}
    with pytest.raises(errors.BadBody, match=match):
        opener().open(unchecked(body))


def test_a_nan_credit_is_refused() -> None:
    body = {**RECEIPT, "credit": math.nan}
    with pytest.raises(errors.MalformedMessage, match="not finite"):
        opener().open(unchecked(body))


def test_signer_will_not_seal_a_bad_receipt() -> None:
    with pytest.raises(errors.BadBody, match="credit"):
        seal({**RECEIPT, "credit": -1.0})


def test_expired_forged_and_replayed_receipts_are_refused() -> None:
    with pytest.raises(errors.Expired):
        opener().open(seal(RECEIPT, now=NOW - 120))
    with pytest.raises(errors.BadSignature):
        opener().open(seal(RECEIPT, key=Ed25519PrivateKey.generate()))
    once = opener()
    data = seal(RECEIPT)
    once.open(data)
    with pytest.raises(errors.Replayed):
        once.open(data)


def test_receipt_only_goes_from_dispatcher_to_node() -> None:
    with pytest.raises(errors.UnknownType, match="not accepted here"):
        opener((Direction.FROM_NODE,)).open(seal(RECEIPT))


async def answered_journal(tmp_path: Path, *jobs: str) -> Journal:
    journal = await Journal.open(tmp_path / "car.sqlite3")
    for job in jobs:
        await journal.write(NodeStore.begin_job, job, "hash", NOW)
        await journal.write(NodeStore.answer, job, "hash", "result", "t", b"signed", NOW + 60, NOW)
    return journal


async def test_receipt_is_recorded_once_per_id_also_after_a_restart(tmp_path: Path) -> None:
    port = LocalPort(started=["j1"])
    journal = await answered_journal(tmp_path, "j1")
    assert await take_receipt(journal, port, RECEIPT, NOW) == "recorded"
    assert await take_receipt(journal, port, RECEIPT, NOW) == "duplicate"
    await journal.aclose()
    again = await Journal.open(tmp_path / "car.sqlite3")  # restarted: replay cache empty
    assert await take_receipt(again, port, RECEIPT, NOW) == "duplicate"
    await again.aclose()
    assert port.receipts == [Receipt("j1", "rcpt-1", 0.002, "EUR")]


async def test_receipt_for_a_job_not_answered_here_is_refused(tmp_path: Path) -> None:
    port = LocalPort(started=["j1", "j2"])
    journal = await answered_journal(tmp_path, "j1")
    await journal.write(NodeStore.begin_job, "j2", "hash", NOW)  # running: no result went out
    with pytest.raises(ValueError, match="'j2' was not answered"):
        await take_receipt(journal, port, {**RECEIPT, "job": "j2"}, NOW)
    with pytest.raises(ValueError, match="'j9' was not answered"):
        await take_receipt(journal, port, {**RECEIPT, "job": "j9"}, NOW)
    assert port.receipts == []
    # A refused receipt may come again, fixed.
    assert not await journal.run(NodeStore.has_receipt, "rcpt-1")
    await journal.aclose()


async def test_receipt_the_port_refuses_is_not_noted(tmp_path: Path) -> None:
    port = LocalPort()  # never ran j1
    journal = await answered_journal(tmp_path, "j1")
    with pytest.raises(ValueError, match="no job 'j1' ran here"):
        await take_receipt(journal, port, RECEIPT, NOW)
    assert not await journal.run(NodeStore.has_receipt, "rcpt-1")
    await journal.aclose()


async def test_local_port_keeps_receipts_once_and_refuses_bad_credit() -> None:
    port = LocalPort(started=["j1"])
    await port.record_receipt("j1", "r1", 0.5, "EUR")
    await port.record_receipt("j1", "r1", 0.5, "EUR")
    assert port.receipts == [Receipt("j1", "r1", 0.5, "EUR")]
    with pytest.raises(ValueError, match="finite"):
        await port.record_receipt("j1", "r2", math.inf, "EUR")


def test_price_list_is_flat_per_model_with_a_default() -> None:
    prices = PriceList()
    assert prices.credit("all-MiniLM-L6-v2") == 0.002
    assert prices.credit("anything-else") == 0.001
    assert prices.currency == "USD"
    assert PriceList({"hash": 0.25}, default=0.0, currency="USD").credit("embed-tiny") == 0.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"prices": {"hash": -1.0}}, "price of 'hash'"),
        ({"default": math.nan}, "price of '\\(default\\)'"),
        ({"currency": "euro"}, "ISO 4217"),
    ],
)
def test_price_list_refuses_bad_prices(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        PriceList(**kwargs)


def test_the_documented_receipt_example_opens() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text()
    block = doc.split("Example: the winner's receipt", 1)[1].split("```", 2)[1]
    data = bytes.fromhex("".join(block.split()))
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32))).public_key()
    msg = Opener(
        me="car-0042",
        keys={DISPATCHER_ID: key.public_bytes_raw()}.get,
        directions=(Direction.TO_NODE,),
        replay=None,
        clock=lambda: 1795750001.0,
    ).open(data)
    assert msg.body == {
        "job": "5f0c6b1e",
        "receipt": "rcpt-9b1f04c2a7d35e6f0c4d2a11",
        "credit": PriceList().credit("all-MiniLM-L6-v2"),
        "currency": "EUR",
    }
    assert msg.id == msg.body["receipt"]


def test_price_list_from_command_line_items() -> None:
    prices = PriceList.parse(["hash=0.25", " embed-tiny = 0"], default=0.5, currency="USD")
    assert (prices.credit("hash"), prices.credit("embed-tiny")) == (0.25, 0.0)
    assert (prices.credit("all-MiniLM-L6-v2"), prices.credit("x")) == (0.002, 0.5)
    for bad in ("hash", "=0.1", "hash=cheap"):
        with pytest.raises(ValueError, match="is not MODEL=CREDIT"):
            PriceList.parse([bad])


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--price", "hash=free"], "'hash=free' is not MODEL=CREDIT"),
        (["--price", "hash=-1"], "price of 'hash'"),
        (["--currency", "euro"], "ISO 4217"),
    ],
)
def test_dispatcher_command_refuses_bad_prices(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from supervisor.cli import main

    assert main(["dispatcher", *argv]) == 2
    assert words in capsys.readouterr().err
