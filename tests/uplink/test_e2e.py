"""Jobs through a real mosquitto over mutual TLS: dispatcher, cars and a client, all real."""

from __future__ import annotations

import hashlib
import logging
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from uplink import pki
from uplink.client import MqttClient, TlsFiles
from uplink.dispatcher.core import DispatcherCore, Send
from uplink.dispatcher.pricing import PriceList
from uplink.dispatcher.store import OutcomeStore
from uplink.envelope import Signer
from uplink.local_port import LocalPort
from uplink.mesh import Mesh
from uplink.messages import DISPATCHER_ID, Tier
from uplink.node import NodeUplink
from uplink.testing import running, seen_accepting, wait_until


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def test_job_round_trip(mesh: Mesh) -> None:
    node = NodeUplink.open(mesh.node_config("car1"), LocalPort())
    dispatcher = mesh.dispatcher(["car1"], ["alice"])
    client = mesh.client("alice")
    async with running(dispatcher, node, client):
        await seen_accepting(dispatcher, "car1")
        out = await client.submit("hash", ["hello car"], k=1)
        assert out.output == {"v": 1, "texts": [sha("hello car")]}
        assert out.timings["worker_ms"] > 0
        assert out.energy_j > 0
        assert node.rtt_ms is not None
        assert dispatcher.core.nodes["car1"].tier is Tier.INTERACTIVE  # fast loopback "Wi-Fi"
        embed = await client.submit("embed-tiny", ["hello car", "good night"], k=1)
        assert [len(v) for v in embed.output["embeddings"]] == [64, 64]
        await wait_until(lambda: node.snapshot()["outbox"] == 0, what="outbox emptied")
    outcomes = OutcomeStore(dispatcher.db_path).outcomes()
    assert [o["outcome"] for o in outcomes] == ["done", "done"]
    assert {o["winner"] for o in outcomes} == {"car1"}
    assert node.answered["result"] == 2


async def test_cancel_stops_the_slower_car(mesh: Mesh) -> None:
    fast = NodeUplink.open(mesh.node_config("fast"), LocalPort())
    slow_port = LocalPort(extra_delay_s=30.0)
    slow = NodeUplink.open(mesh.node_config("slow"), slow_port)
    dispatcher = mesh.dispatcher(["fast", "slow"], ["alice"])
    client = mesh.client("alice")
    async with running(dispatcher, fast, slow, client):
        await seen_accepting(dispatcher, "fast", "slow")
        with trio.fail_after(5):
            out = await client.submit("hash", ["sleep:0.2:x"], k=2, spares=0)
        # The slow car was cancelled through its stop flag, long before its 30 s were up.
        await wait_until(lambda: not slow.running_jobs, 3.0, "slow car stopped")
        await wait_until(lambda: dispatcher.received[("slow", "failure", out.job)] == 1, 3.0)
    assert slow.answered["failure"] == 1
    assert slow_port.started == [out.job]
    states = {r["node"]: r["state"] for r in OutcomeStore(dispatcher.db_path).replicas(out.job)}
    assert states == {"fast": "won", "slow": "cancelled"}


async def test_only_the_winner_gets_a_receipt_once(mesh: Mesh) -> None:
    fast_port, slow_port = LocalPort(), LocalPort(extra_delay_s=30.0)
    fast = NodeUplink.open(mesh.node_config("fast"), fast_port)
    slow = NodeUplink.open(mesh.node_config("slow"), slow_port)
    core = DispatcherCore(prices=PriceList({"hash": 0.25}, currency="USD"))
    dispatcher = mesh.dispatcher(["fast", "slow"], ["alice"], core=core)
    client = mesh.client("alice")
    async with running(dispatcher, fast, slow, client):
        await seen_accepting(dispatcher, "fast", "slow")
        with trio.fail_after(5):
            out = await client.submit("hash", ["sleep:0.2:x"], k=2, spares=0)
        await wait_until(lambda: fast_port.receipts, 3.0, "the winner's receipt")
        # The cancel went after the receipt on the same topic: once the slow car's failure is
        # back, any receipt for it would have arrived.
        await wait_until(lambda: dispatcher.received[("slow", "failure", out.job)] == 1, 3.0)
        (receipt,) = fast_port.receipts
        assert (receipt.job_id, receipt.credit, receipt.currency) == (out.job, 0.25, "USD")
        assert receipt.receipt_id == core.jobs[out.job].receipt
        # The dispatcher sends the same receipt again (a new envelope): recorded once.
        body = {"job": out.job, "receipt": receipt.receipt_id, "credit": 0.25, "currency": "USD"}
        dispatcher.send_control("fast", "receipt", body)
        # A receipt for a job the car never answered is refused, logged and counted.
        dispatcher.send_control("fast", "receipt", {**body, "job": "nope", "receipt": "r-x"})
        await wait_until(lambda: fast.receipts["duplicate"] == 1, 3.0, "the duplicate")
        await wait_until(lambda: fast.refused["bad_receipt"] == 1, 3.0, "the refusal")
    assert fast_port.receipts == [receipt]
    assert fast.receipts == {"recorded": 1, "duplicate": 1}
    assert slow_port.receipts == [] and not slow.receipts and not slow.refused
    (row,) = OutcomeStore(dispatcher.db_path).receipts()
    assert row == {
        "receipt": receipt.receipt_id,
        "job": out.job,
        "node": "fast",
        "credit": 0.25,
        "currency": "USD",
    }


async def test_receipt_waits_in_the_broker_while_the_car_is_away(
    mesh: Mesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = LocalPort()
    dispatcher = mesh.dispatcher(["car1"], ["alice"])
    client = mesh.client("alice")
    held: list[Send] = []
    on_result = dispatcher.core.on_result

    # The car drives off right after its result, before its receipt goes out.
    def hold_receipts(node: str, body: Mapping[str, Any], now: float) -> list[Send]:
        actions = on_result(node, body, now)
        held.extend(a for a in actions if a.type == "receipt")
        return [a for a in actions if a.type != "receipt"]

    monkeypatch.setattr(dispatcher.core, "on_result", hold_receipts)
    async with running(dispatcher, client):
        async with running(NodeUplink.open(mesh.node_config("car1"), port)):
            await seen_accepting(dispatcher, "car1")
            out = await client.submit("hash", ["x"], k=1)
        dispatcher._carry_out(held)  # sent while the car is away: queued in its session
        await trio.sleep(0.1)
        assert port.receipts == []
        back = NodeUplink.open(mesh.node_config("car1"), port)  # a new process: empty replay cache
        async with running(back):
            await wait_until(lambda: port.receipts, 5.0, "the queued receipt")
    assert [(r.job_id, r.credit) for r in port.receipts] == [(out.job, 0.001)]
    assert back.receipts == {"recorded": 1}


async def test_preempted_car_job_is_reassigned(mesh: Mesh) -> None:
    ports = {"a": LocalPort(), "b": LocalPort()}
    nodes = {n: NodeUplink.open(mesh.node_config(n), p) for n, p in ports.items()}
    dispatcher = mesh.dispatcher(list(nodes), ["alice"])
    client = mesh.client("alice")
    async with running(dispatcher, *nodes.values(), client) as nursery:
        await seen_accepting(dispatcher, "a", "b")
        results = []

        async def submit() -> None:
            results.append(await client.submit("hash", ["sleep:0.5:data"], k=1, spares=1))

        nursery.start_soon(submit)
        await wait_until(lambda: any(n.running_jobs for n in nodes.values()), what="a start")
        first = next(name for name, n in nodes.items() if n.running_jobs)
        ports[first].preempt("driver door open")
        await wait_until(lambda: results, 10.0, "the reassigned result")
    replicas = {
        r["node"]: (r["state"], r["reason"])
        for r in OutcomeStore(dispatcher.db_path).replicas(results[0].job)
    }
    other = "b" if first == "a" else "a"
    assert replicas == {first: ("failed", "preempted"), other: ("won", None)}
    assert results[0].output["texts"] == [sha("sleep:0.5:data")]


async def test_bad_messages_are_refused_and_logged_while_serving(
    mesh: Mesh, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="parkmesh.uplink")
    node = NodeUplink.open(mesh.node_config("car1"), LocalPort())
    dispatcher = mesh.dispatcher(["car1"], ["alice"])
    client = mesh.client("alice")
    topic = dispatcher.topics.node_in("car1")
    async with running(dispatcher, node, client):
        await seen_accepting(dispatcher, "car1")
        publish = dispatcher.mqtt.publish
        publish(topic, b"\xa1\xff not cbor at all")
        forged = Signer(DISPATCHER_ID, Ed25519PrivateKey.generate())
        publish(topic, forged.seal("drain", {}, to="car1", ttl_s=60))
        publish(
            topic, dispatcher.signer.seal("drain", {}, to="car1", ttl_s=5, now=time.time() - 60)
        )
        valid = dispatcher.signer.seal("resume", {}, to="car1", ttl_s=60)
        publish(topic, valid)
        publish(topic, valid)
        await wait_until(lambda: sum(node.refused.values()) == 4, what="four refusals")
        assert node.refused == {"malformed": 1, "bad_signature": 1, "expired": 1, "replayed": 1}
        assert not node.draining  # the forged drain did nothing
        out = await client.submit("hash", ["still serving"], k=1)
        assert out.output["texts"] == [sha("still serving")]
    logged = " ".join(r.getMessage() for r in caplog.records)
    for code in ("malformed", "bad_signature", "expired", "replayed"):
        assert f"({code})" in logged


async def test_control_messages_reach_the_port(mesh: Mesh) -> None:
    port = LocalPort()
    node = NodeUplink.open(mesh.node_config("car1"), port)
    dispatcher = mesh.dispatcher(["car1"], [])
    async with running(dispatcher, node):
        await seen_accepting(dispatcher, "car1")
        now = time.time()
        dispatcher.send_control(
            "car1",
            "curtail",
            {"id": "dr-7", "start": now - 1, "until": now + 3600, "max_power_w": 0.0},
        )
        await wait_until(lambda: "dr-7" in port.curtailments, what="curtailment")
        await wait_until(
            lambda: not dispatcher.core.nodes["car1"].accepting, what="curtailed status"
        )
        assert "curtailed to 0 W" in dispatcher.core.nodes["car1"].reasons
        dispatcher.send_control("car1", "drain", {})
        await wait_until(lambda: port.draining, what="drain")
        dispatcher.send_control("car1", "resume", {})
        await wait_until(lambda: not port.draining, what="resume")
        dispatcher.send_control("car1", "manifest", {"name": "hash", "document": b'{"m": 1}'})
        await wait_until(lambda: "hash" in port.manifests, what="manifest")


async def test_clean_stop_says_offline_at_once_and_a_vanished_car_by_its_will(
    mesh: Mesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    calm = NodeUplink.open(mesh.node_config("calm", will_delay_s=60), LocalPort())
    gone = NodeUplink.open(mesh.node_config("gone", will_delay_s=1), LocalPort())
    dispatcher = mesh.dispatcher(["calm", "gone"], [])

    async def vanish() -> None:  # the link drops: no last words, no DISCONNECT
        sock = gone.mqtt._paho.socket()
        assert isinstance(sock, socket.socket)
        sock.shutdown(socket.SHUT_RDWR)

    monkeypatch.setattr(gone.mqtt, "_disconnect", vanish)
    async with running(dispatcher):
        async with running(calm, gone):
            await seen_accepting(dispatcher, "calm", "gone")
        t0 = time.monotonic()
        # calm stopped cleanly: its last words say offline, long before its 60 s Will delay.
        await wait_until(lambda: not dispatcher.core.nodes["calm"].online, 2.0, "calm offline")
        assert dispatcher.core.nodes["gone"].online
        await wait_until(lambda: not dispatcher.core.nodes["gone"].online, 5.0, "gone's Will")
        assert time.monotonic() - t0 >= 0.9  # the Will waited for its delay
        assert dispatcher.core.nodes["gone"].reasons == ("offline",)


async def test_untrusted_client_certificate_is_refused(mesh: Mesh, tmp_path: Path) -> None:
    rogue_ca = pki.make_ca(tmp_path / "rogue", "rogue CA")
    rogue = pki.issue(rogue_ca, tmp_path / "rogue", "car1")
    client = MqttClient(
        client_id="rogue",
        host="127.0.0.1",
        port=mesh.port,
        tls=TlsFiles(mesh.ca.cert, rogue.cert, rogue.key),
        subscriptions=[],
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(client.run)
        await wait_until(lambda: client.failures >= 1, 5.0, "a refused connection")
        assert not client.connected
        nursery.cancel_scope.cancel()
    assert client.connects == 0
    assert client.last_error
