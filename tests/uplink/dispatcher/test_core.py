"""The reference dispatcher's rules: choice of cars, first result wins, reassignment."""

from __future__ import annotations

import random

from uplink.dispatcher.core import DispatcherCore, Send

KEY = b"w" * 32


def core_with(*cars: str, tier: str = "interactive") -> DispatcherCore:
    core = DispatcherCore(rng=random.Random(1), accept_timeout_s=3.0)
    for car in cars:
        core.on_status(
            car,
            {
                "online": True,
                "accepting": True,
                "models": ["hash"],
                "tier": tier,
                "worker_key": KEY,
                "runway_s": 3600.0,
                "slots": 1,
            },
            0.0,
        )
    return core


def start(core: DispatcherCore, k: int, spares: int = 1, tier: str = "batch") -> list[Send]:
    quote = core.quote(
        "alice", {"job": "j", "model": "hash", "tier": tier, "k": k, "spares": spares}, 1.0
    )
    assert quote[0].type == "quote_reply", quote
    cars = quote[0].body["cars"]
    assert all("node" not in c and c["worker_key"] == KEY for c in cars)  # aliases only
    return core.submit(
        "alice",
        {"job": "j", "deadline": 100.0, "inputs": {c["alias"]: b"sealed" for c in cars}},
        2.0,
    )


def offered(actions: list[Send]) -> list[str]:
    return [a.to for a in actions if a.type == "offer"]


def test_job_goes_to_k_cars_and_first_result_wins():
    core = core_with("a", "b", "c", "d")
    cars = offered(start(core, k=3))
    assert len(cars) == 3
    out = core.on_result(cars[1], {"job": "j", "output": b"o", "timings": {}, "energy_j": 1.0}, 5.0)
    assert [a.type for a in out].count("job_result") == 1
    assert sorted(a.to for a in out if a.type == "cancel") == sorted([cars[0], cars[2]])
    again = core.on_result(
        cars[0], {"job": "j", "output": b"o", "timings": {}, "energy_j": 1.0}, 6.0
    )
    assert again == []  # a late result is dropped
    assert core.jobs["j"].winner == cars[1]


def test_preempted_car_is_replaced_by_a_spare():
    core = core_with("a", "b")
    (first,) = offered(start(core, k=1, spares=1))
    out = core.on_failure(first, {"job": "j", "reason": "preempted"}, 3.0)
    (second,) = offered(out)
    assert second != first
    assert core.jobs["j"].replicas[first].reason == "preempted"


def test_car_going_offline_is_replaced():
    core = core_with("a", "b")
    (first,) = offered(start(core, k=1, spares=1))
    out = core.on_status(first, {"online": False}, 3.0)
    assert offered(out) and offered(out)[0] != first


def test_a_car_back_from_offline_may_still_win():
    core = core_with("a")
    (first,) = offered(start(core, k=1, spares=0))
    assert core.on_status(first, {"online": False}, 3.0) == []  # no spare: wait, not fail
    out = core.on_result(first, {"job": "j", "output": b"o", "timings": {}, "energy_j": 0.0}, 9.0)
    assert [a.type for a in out] == ["job_result"]


def test_no_answer_to_an_offer_counts_as_failure():
    core = core_with("a", "b")
    (first,) = offered(start(core, k=1, spares=1))
    assert core.tick(4.0) == []  # 2 s after the offer: still waiting
    out = core.tick(5.5)
    assert offered(out) and offered(out)[0] != first


def test_client_is_told_when_every_car_failed():
    core = core_with("a")
    (first,) = offered(start(core, k=1, spares=0))
    out = core.on_failure(first, {"job": "j", "reason": "crashed"}, 3.0)
    assert [(a.type, a.body["reason"]) for a in out] == [("job_failed", "crashed")]


def test_deadline_fails_the_job_and_cancels_cars():
    core = core_with("a", "b")
    start(core, k=2, spares=0)
    out = core.tick(100.0)
    assert {a.type for a in out} == {"job_failed", "cancel"}


def test_interactive_jobs_need_interactive_cars():
    core = core_with("slow", tier="batch")
    out = core.quote("alice", {"job": "j", "model": "hash", "tier": "interactive", "k": 1}, 1.0)
    assert out[0].type == "job_failed"
    assert "no car" in out[0].body["detail"]


def test_busy_cars_are_not_chosen_twice():
    core = core_with("a")
    start(core, k=1, spares=0)
    out = core.quote("alice", {"job": "j2", "model": "hash", "tier": "batch", "k": 1}, 3.0)
    assert out[0].type == "job_failed"


def test_a_submit_without_quote_is_refused():
    core = core_with("a")
    out = core.submit("bob", {"job": "zz", "deadline": 9.0, "inputs": {}}, 1.0)
    assert out[0].type == "job_failed"
