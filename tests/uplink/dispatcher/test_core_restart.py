"""The core across a restart: what it reports for saving, what it ignores, what it resumes."""

from __future__ import annotations

import copy
import random

from uplink.dispatcher.core import DispatcherCore, Send

KEY = b"w" * 32
RESULT = {"job": "j", "output": b"o", "timings": {}, "energy_j": 1.0}


def core_with(*cars: str) -> DispatcherCore:
    core = DispatcherCore(rng=random.Random(1), accept_timeout_s=3.0)
    for car in cars:
        status = {
            "online": True,
            "accepting": True,
            "models": ["hash"],
            "worker_key": KEY,
            "runway_s": 3600.0,
            "slots": 1,
        }
        core.on_status(car, status, 0.0)
    return core


def start(core: DispatcherCore, k: int, spares: int) -> list[Send]:
    """Quote at 1.0 and submit at 2.0 job ``j`` of client alice, deadline 100.0."""
    (reply,) = core.quote(
        "alice", {"job": "j", "model": "hash", "tier": "batch", "k": k, "spares": spares}, 1.0
    )
    inputs = {c["alias"]: b"sealed" for c in reply.body["cars"]}
    return core.submit("alice", {"job": "j", "deadline": 100.0, "inputs": inputs}, 2.0)


def offered(actions: list[Send]) -> list[str]:
    return [a.to for a in actions if a.type == "offer"]


def restarted(core: DispatcherCore, now: float) -> DispatcherCore:
    """A new core holding deep copies of `core`'s jobs (as the state file gives them back),
    knowing the same cars (their retained statuses come again after a restart)."""
    fresh = core_with(*core.nodes)
    fresh.restore(copy.deepcopy(list(core.jobs.values())), now)
    return fresh


def test_every_change_is_reported_once_for_saving() -> None:
    core = core_with("a", "b")
    core.take_changed()
    start(core, k=1, spares=1)
    assert [j.job_id for j in core.take_changed()] == ["j"]
    assert core.take_changed() == []
    (car,) = core.jobs["j"].replicas
    core.on_accept(car, "j", 3.0)
    assert [j.job_id for j in core.take_changed()] == ["j"]
    core.on_accept(car, "j", 3.1)  # a repeated accept changes nothing
    assert core.take_changed() == []
    core.on_result(car, RESULT, 4.0)
    (job,) = core.take_changed()
    assert (job.state, job.told, job.winner) == ("done", "job_result", car)


def test_sends_about_a_job_have_stable_ids() -> None:
    core = core_with("a", "b", "c")
    sends = start(core, k=2, spares=1)
    assert {s.msg_id for s in sends if s.type == "offer"} == {"j:offer"}
    won = core.on_result(offered(sends)[0], RESULT, 5.0)
    ids = {s.type: s.msg_id for s in won}
    assert ids == {
        "job_result": "j:job_result",
        "receipt": core.jobs["j"].receipt,
        "cancel": "j:cancel",
    }


def test_a_repeated_quote_or_submit_from_its_client_is_ignored() -> None:
    core = core_with("a", "b")
    quote = {"job": "j", "model": "hash", "tier": "batch", "k": 1}
    sends = start(core, k=1, spares=1)
    core.take_changed()
    assert core.quote("alice", quote, 3.0) == []
    inputs = {alias: b"sealed" for alias, _ in core.jobs["j"].cars}
    assert core.submit("alice", {"job": "j", "deadline": 100.0, "inputs": inputs}, 3.0) == []
    assert core.take_changed() == []
    assert list(core.jobs["j"].replicas) == offered(sends)  # no second offer
    # Another client may not take the job id.
    (refusal,) = core.quote("bob", quote, 3.0)
    assert (refusal.to, refusal.type, refusal.body["detail"]) == (
        "bob",
        "job_failed",
        "job id already used",
    )


def test_a_submit_after_the_quote_expired_is_answered_once() -> None:
    core = core_with("a")
    core.quote("alice", {"job": "j", "model": "hash", "tier": "batch", "k": 1}, 0.0)
    core.tick(200.0)  # the quote expired unused
    submit = {"job": "j", "deadline": 300.0, "inputs": {}}
    (answer,) = core.submit("alice", submit, 201.0)
    assert answer.type == "job_failed" and core.jobs["j"].told == "job_failed"
    assert core.submit("alice", submit, 202.0) == []  # the resend after a crash


def test_restored_job_takes_its_result_and_pays_the_winner_once() -> None:
    core = core_with("a", "b")
    (car,) = offered(start(core, k=1, spares=1))
    core.on_accept(car, "j", 3.0)
    fresh = restarted(core, 50.0)
    out = fresh.on_result(car, RESULT, 51.0)
    assert [s.type for s in out] == ["job_result", "receipt"]
    assert fresh.jobs["j"].told == "job_result"
    # The same result delivered once more (its ack was lost in a second crash).
    assert restarted(fresh, 52.0).on_result(car, RESULT, 52.0) == []


def test_restored_job_fails_at_its_deadline() -> None:
    core = core_with("a")
    (car,) = offered(start(core, k=1, spares=0))
    core.on_accept(car, "j", 3.0)
    fresh = restarted(core, 50.0)
    assert fresh.tick(99.0) == []  # accepted and running: wait for the deadline
    out = fresh.tick(100.0)
    assert [(s.type, s.to) for s in out] == [("job_failed", "alice"), ("cancel", car)]
    assert out[0].body["reason"] == "expired"
    assert fresh.tick(101.0) == []  # told once


def test_an_unanswered_offer_gets_its_accept_time_again_after_a_restart() -> None:
    core = core_with("a", "b")
    (car,) = offered(start(core, k=1, spares=1))  # offered at 2.0, never accepted
    fresh = restarted(core, 60.0)
    assert fresh.jobs["j"].replicas[car].sent_at == 60.0
    assert fresh.tick(62.0) == []  # within accept_timeout_s of the restart
    out: list[Send] = fresh.tick(63.5)
    assert offered(out) and offered(out)[0] != car


def test_a_finished_job_is_not_reopened_by_a_restart() -> None:
    core = core_with("a")
    (car,) = offered(start(core, k=1, spares=0))
    core.on_failure(car, {"job": "j", "reason": "crashed"}, 5.0)
    fresh = restarted(core, 50.0)
    assert fresh.tick(200.0) == []
    assert fresh.on_failure(car, {"job": "j", "reason": "crashed"}, 50.0) == []
    assert fresh.jobs["j"].told == "job_failed"


def test_restored_cars_are_spares_before_their_statuses_come_again() -> None:
    core = core_with("a", "b")
    (car,) = offered(start(core, k=1, spares=1))
    assert {n.node_id for n in core.take_changed_nodes()} == {"a", "b"}
    fresh = DispatcherCore(rng=random.Random(1))
    fresh.restore(
        copy.deepcopy(list(core.jobs.values())), 50.0, copy.deepcopy(list(core.nodes.values()))
    )
    out = fresh.on_failure(car, {"job": "j", "reason": "preempted"}, 51.0)
    assert offered(out) == [n for n in ("a", "b") if n != car]
    assert fresh.take_changed_nodes() == []  # restoring is not a change to save
