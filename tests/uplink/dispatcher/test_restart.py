"""A reference dispatcher stopped or crashed mid-job, and a new one on the same state file.

Real mosquitto (mutual TLS, persistent sessions), real cars (`NodeUplink` over `LocalPort`), a
real client, and a tap (``conftest.Tap``), so "answered exactly once" is checked on the wire,
not through the client's own deduplication.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cbor2
import pytest
import trio

from uplink.client import Inbound
from uplink.dispatcher.service import Dispatcher
from uplink.dispatcher.store import JobStore, Outgoing
from uplink.dispatcher.submit import JobFailed, Outcome, SubmitClient
from uplink.local_port import LocalPort
from uplink.mesh import Mesh
from uplink.node import NodeUplink
from uplink.testing import running, wait_until

pytestmark = pytest.mark.slow


def msg_type(inbound: Inbound) -> str:
    """The type inside an envelope, unverified (for a test's own routing)."""
    inner = cbor2.loads(cbor2.loads(inbound.payload)["m"])
    return str(inner["t"])


async def seen_accepting(dispatcher: Dispatcher, car: str) -> None:
    nodes = dispatcher.core.nodes
    await wait_until(lambda: car in nodes and nodes[car].accepting, what=f"{car} accepting")


async def wait_accepted(dispatcher: Dispatcher, car: str) -> str:
    """Wait until `car` accepted a job; return the job's id."""

    def accepted() -> list[str]:
        jobs = dispatcher.core.jobs.values()
        return [
            j.job_id for j in jobs if j.replicas.get(car) and j.replicas[car].state == "accepted"
        ]

    await wait_until(accepted, what=f"{car} to accept")
    (job,) = accepted()
    return job


def submitter(
    client: SubmitClient, text: str, out: list[Outcome | JobFailed], deadline_s: float = 30.0
) -> Callable[[], Any]:
    async def submit() -> None:
        try:
            out.append(await client.submit("hash", [text], k=1, spares=0, deadline_s=deadline_s))
        except JobFailed as exc:
            out.append(exc)

    return submit


async def test_a_result_that_came_while_the_dispatcher_was_down_is_answered_once(
    mesh: Mesh, open_tap: Callable[[str], Any]
) -> None:
    port = LocalPort()
    node = NodeUplink.open(mesh.node_config("car1"), port)
    client, tap = mesh.client("alice"), open_tap("alice")
    first = mesh.dispatcher(["car1"], ["alice"])
    answers: list[Outcome | JobFailed] = []
    async with running(tap, node, client) as nursery:
        async with running(first):
            await seen_accepting(first, "car1")
            nursery.start_soon(submitter(client, "sleep:1.0:while away", answers))
            job = await wait_accepted(first, "car1")
        # The car finishes while no dispatcher runs: its result waits in the broker, queued
        # in the dispatcher's persistent session.
        await wait_until(
            lambda: node.answered["result"] == 1 and node.snapshot()["outbox"] == 0,
            10.0,
            "the result to reach the broker",
        )
        assert answers == []
        second = mesh.dispatcher(["car1"], ["alice"])
        async with running(second):
            await wait_until(lambda: answers, 10.0, "the answer after the restart")
            await wait_until(lambda: port.receipts, 5.0, "the receipt")
            await trio.sleep(0.3)  # room for a second answer to show up
    (outcome,) = answers
    assert isinstance(outcome, Outcome) and outcome.job == job
    assert tap.answers(job) == [("job_result", f"{job}:job_result")]
    assert (first.received[("car1", "result", job)], second.received[("car1", "result", job)]) == (
        0,
        1,
    )
    assert node.receipts == {"recorded": 1}
    store = JobStore(second.db_path)
    ((receipt_id,),) = [(r["receipt"],) for r in store.receipts()]
    assert [r.receipt_id for r in port.receipts] == [receipt_id]
    assert [(o["job"], o["outcome"], o["told"]) for o in store.outcomes()] == [
        (job, "done", "job_result")
    ]


async def test_a_job_in_flight_fails_at_its_deadline_after_a_restart(
    mesh: Mesh, open_tap: Callable[[str], Any]
) -> None:
    port = LocalPort(extra_delay_s=30.0)  # accepts, then never finishes in time
    client, tap = mesh.client("alice"), open_tap("alice")
    first = mesh.dispatcher(["car1"], ["alice"])
    answers: list[Outcome | JobFailed] = []
    async with running(tap, client) as nursery:
        # The car goes away with the job too: only the dispatcher's deadline is left.
        async with running(first), running(NodeUplink.open(mesh.node_config("car1"), port)):
            await seen_accepting(first, "car1")
            nursery.start_soon(submitter(client, "x", answers, deadline_s=3.0))
            job = await wait_accepted(first, "car1")
        second = mesh.dispatcher(["car1"], ["alice"])
        async with running(second):
            await wait_until(lambda: answers, 10.0, "the failure at the deadline")
            await trio.sleep(0.3)  # room for a second answer to show up
    (failure,) = answers
    assert isinstance(failure, JobFailed)
    # From the dispatcher, at the deadline: not the client giving up on a silent dispatcher.
    assert (failure.job, failure.reason, failure.detail) == (job, "expired", "deadline passed")
    assert tap.answers(job) == [("job_failed", f"{job}:job_failed")]
    assert second.core.jobs[job].replicas["car1"].state == "cancelled"
    assert port.receipts == []


async def test_a_result_received_but_not_committed_is_delivered_again_and_handled_once(
    mesh: Mesh, open_tap: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = LocalPort()
    node = NodeUplink.open(mesh.node_config("car1"), port)
    client, tap = mesh.client("alice"), open_tap("alice")
    first = mesh.dispatcher(["car1"], ["alice"])
    lost: list[Inbound] = []
    handle = first.handle

    def crash_on_result(inbound: Inbound) -> None:
        if msg_type(inbound) == "result":
            lost.append(inbound)  # the process "dies" here: nothing committed, no PUBACK
            return
        handle(inbound)

    monkeypatch.setattr(first, "handle", crash_on_result)
    answers: list[Outcome | JobFailed] = []
    async with running(tap, node, client) as nursery:
        async with running(first):
            await seen_accepting(first, "car1")
            nursery.start_soon(submitter(client, "sleep:0.2:lost result", answers))
            await wait_until(lambda: lost, 10.0, "the result to arrive")
            (job,) = first.core.jobs
        second = mesh.dispatcher(["car1"], ["alice"])
        redelivered: list[Inbound] = []
        handle_again = second.handle

        def note(inbound: Inbound) -> None:
            if msg_type(inbound) == "result":
                redelivered.append(inbound)
            handle_again(inbound)

        monkeypatch.setattr(second, "handle", note)
        async with running(second):
            await wait_until(lambda: answers, 10.0, "the answer after the restart")
            await wait_until(lambda: port.receipts, 5.0, "the receipt")
            await trio.sleep(0.3)  # room for a second answer to show up
    assert node.answered["result"] == 1  # the car sent it once
    # The broker delivered it again (DUP: the first delivery was never acknowledged).
    assert [(m.payload, m.dup) for m in redelivered] == [(lost[0].payload, True)]
    assert second.received[("car1", "result", job)] == 1
    (outcome,) = answers
    assert isinstance(outcome, Outcome) and outcome.job == job
    assert tap.answers(job) == [("job_result", f"{job}:job_result")]
    assert len(port.receipts) == 1 and node.receipts == {"recorded": 1}


async def test_after_a_crash_past_the_commit_every_send_goes_again_and_is_dropped_as_a_copy(
    mesh: Mesh, open_tap: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = LocalPort()
    node = NodeUplink.open(mesh.node_config("car1"), port)
    client, tap = mesh.client("alice"), open_tap("alice")
    first = mesh.dispatcher(["car1"], ["alice"])
    ack = first.mqtt.ack

    # Everything was committed and published, but the process died before its PUBACKs went
    # out and before it noted the broker's PUBACKs of its own sends.
    def ack_statuses_only(inbound: Inbound) -> None:
        if inbound.topic.endswith("/status"):
            ack(inbound)

    monkeypatch.setattr(first.mqtt, "ack", ack_statuses_only)
    monkeypatch.setattr(first, "_forget_sent", lambda store: None)
    async with running(tap, node, client):
        async with running(first):
            await seen_accepting(first, "car1")
            outcome = await client.submit("hash", ["sleep:0.2:twice?"], k=1, spares=0)
            await wait_until(lambda: port.receipts, 5.0, "the receipt")
        job = outcome.job
        unsent = JobStore(first.db_path).pending()
        assert {e.kind for e in unsent} == {"quote_reply", "offer", "job_result", "receipt"}
        second = mesh.dispatcher(["car1"], ["alice"])
        async with running(second):
            # Quote, submit, accept and result come again; nothing new is decided from them.
            await wait_until(
                lambda: second.received[("car1", "result", job)] == 1, 10.0, "the redelivery"
            )
            assert second.received[("alice", "submit", job)] == 1
            # The offer and the receipt came again, same ids: the car dropped both.
            await wait_until(lambda: node.refused["replayed"] == 2, 5.0, "the copies at the car")
            await wait_until(lambda: client.refused == 2, 5.0, "the copies at the client")
            await wait_until(lambda: len(tap.answers(job)) == 2, 5.0, "the answer's copy")
    assert set(tap.answers(job)) == {("job_result", f"{job}:job_result")}
    assert len(port.receipts) == 1 and node.receipts == {"recorded": 1}
    assert port.started == [job]  # the job ran once
    store = JobStore(second.db_path)
    assert [r["receipt"] for r in store.receipts()] == [port.receipts[0].receipt_id]
    assert store.pending() == []  # acknowledged this time


async def test_a_receipt_decided_but_not_published_is_sent_after_the_restart(
    mesh: Mesh, open_tap: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = LocalPort()
    node = NodeUplink.open(mesh.node_config("car1"), port)
    client = mesh.client("alice")
    first = mesh.dispatcher(["car1"], ["alice"])
    held: list[Outgoing] = []
    publish = first._publish

    def hold_receipts(entry: Outgoing) -> None:  # the process dies before publishing it
        if entry.kind == "receipt":
            held.append(entry)
        else:
            publish(entry)

    monkeypatch.setattr(first, "_publish", hold_receipts)
    async with running(node, client):
        async with running(first):
            await seen_accepting(first, "car1")
            outcome = await client.submit("hash", ["pay me"], k=1, spares=0)
            await wait_until(lambda: held, 5.0, "the receipt decision")
        assert port.receipts == []
        async with running(mesh.dispatcher(["car1"], ["alice"])):
            await wait_until(lambda: port.receipts, 10.0, "the receipt after the restart")
    (receipt,) = port.receipts
    (row,) = JobStore(first.db_path).receipts()
    assert (receipt.job_id, receipt.receipt_id) == (outcome.job, row["receipt"])
    assert held[0].payload in [e.payload for e in held]  # decided before the crash
    assert node.receipts == {"recorded": 1}


async def test_a_spare_known_only_from_the_state_file_takes_over_after_a_restart(
    mesh: Mesh, open_tap: Callable[[str], Any]
) -> None:
    # The spare has the shorter runway: the job is offered to car "a" first.
    ports = {"a": LocalPort(), "b": LocalPort(runway_s=1000.0)}
    nodes = {name: NodeUplink.open(mesh.node_config(name), port) for name, port in ports.items()}
    client, tap = mesh.client("alice"), open_tap("alice")
    first = mesh.dispatcher(list(nodes), ["alice"])
    answers: list[Outcome | JobFailed] = []
    async with running(tap, *nodes.values(), client) as nursery:
        async with running(first):
            await seen_accepting(first, "a")
            await seen_accepting(first, "b")

            async def submit() -> None:
                out = await client.submit("hash", ["sleep:1.0:x"], k=1, spares=1)
                answers.append(out)

            nursery.start_soon(submit)
            job = await wait_accepted(first, "a")
        # While no dispatcher runs, car a is pre-empted: its failure is queued for the
        # dispatcher, and is delivered before the retained statuses after the restart.
        ports["a"].preempt("driver door open")
        await wait_until(lambda: nodes["a"].answered["failure"] == 1, 5.0, "a's failure")
        async with running(mesh.dispatcher(list(nodes), ["alice"])):
            await wait_until(lambda: answers, 10.0, "the spare's result")
    (outcome,) = answers
    assert isinstance(outcome, Outcome) and outcome.job == job
    assert ports["b"].started == [job]
    assert tap.answers(job) == [("job_result", f"{job}:job_result")]
    states = {r["node"]: (r["state"], r["reason"]) for r in JobStore(first.db_path).replicas(job)}
    assert states == {"a": ("failed", "preempted"), "b": ("won", None)}
