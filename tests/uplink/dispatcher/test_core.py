"""The reference dispatcher's rules: choice of cars, first result wins, reassignment."""

from __future__ import annotations

import random

from uplink.dispatcher.core import DispatcherCore, Send
from uplink.dispatcher.pricing import PriceList

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


def test_job_goes_to_k_cars_and_first_result_wins() -> None:
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


def test_preempted_car_is_replaced_by_a_spare() -> None:
    core = core_with("a", "b")
    (first,) = offered(start(core, k=1, spares=1))
    out = core.on_failure(first, {"job": "j", "reason": "preempted"}, 3.0)
    (second,) = offered(out)
    assert second != first
    assert core.jobs["j"].replicas[first].reason == "preempted"


def test_car_going_offline_is_replaced() -> None:
    core = core_with("a", "b")
    (first,) = offered(start(core, k=1, spares=1))
    out = core.on_status(first, {"online": False}, 3.0)
    assert offered(out) and offered(out)[0] != first


def test_a_car_back_from_offline_may_still_win() -> None:
    core = core_with("a")
    (first,) = offered(start(core, k=1, spares=0))
    assert core.on_status(first, {"online": False}, 3.0) == []  # no spare: wait, not fail
    out = core.on_result(first, {"job": "j", "output": b"o", "timings": {}, "energy_j": 0.0}, 9.0)
    assert [a.type for a in out] == ["job_result", "receipt"]  # and it earns its credit
    assert out[1].to == first


def test_no_answer_to_an_offer_counts_as_failure() -> None:
    core = core_with("a", "b")
    (first,) = offered(start(core, k=1, spares=1))
    assert core.tick(4.0) == []  # 2 s after the offer: still waiting
    out = core.tick(5.5)
    assert offered(out) and offered(out)[0] != first


def test_client_is_told_when_every_car_failed() -> None:
    core = core_with("a")
    (first,) = offered(start(core, k=1, spares=0))
    out = core.on_failure(first, {"job": "j", "reason": "crashed"}, 3.0)
    assert [(a.type, a.body["reason"]) for a in out] == [("job_failed", "crashed")]


def test_deadline_fails_the_job_and_cancels_cars() -> None:
    core = core_with("a", "b")
    start(core, k=2, spares=0)
    out = core.tick(100.0)
    assert {a.type for a in out} == {"job_failed", "cancel"}


def test_interactive_jobs_need_interactive_cars() -> None:
    core = core_with("slow", tier="batch")
    out = core.quote("alice", {"job": "j", "model": "hash", "tier": "interactive", "k": 1}, 1.0)
    assert out[0].type == "job_failed"
    assert "no car" in out[0].body["detail"]


def test_busy_cars_are_not_chosen_twice() -> None:
    core = core_with("a")
    start(core, k=1, spares=0)
    out = core.quote("alice", {"job": "j2", "model": "hash", "tier": "batch", "k": 1}, 3.0)
    assert out[0].type == "job_failed"


def test_a_submit_without_quote_is_refused() -> None:
    core = core_with("a")
    out = core.submit("bob", {"job": "zz", "deadline": 9.0, "inputs": {}}, 1.0)
    assert out[0].type == "job_failed"


def test_only_the_winner_gets_a_receipt_priced_per_model() -> None:
    core = core_with("a", "b", "c")
    core.prices = PriceList({"hash": 0.25}, currency="USD")
    cars = offered(start(core, k=2, spares=0))
    result = {"job": "j", "output": b"o", "timings": {}, "energy_j": 1.0}
    out = core.on_result(cars[0], result, 5.0)
    receipts = [a for a in out if a.type == "receipt"]
    assert len(receipts) == 1
    (receipt,) = receipts
    assert receipt.to == cars[0] and receipt.to_node
    assert receipt.body == {
        "job": "j",
        "receipt": core.jobs["j"].receipt,
        "credit": 0.25,
        "currency": "USD",
    }
    assert receipt.msg_id == core.jobs["j"].receipt  # a resend is the same message
    assert [a.to for a in out if a.type == "cancel"] == [cars[1]]
    # The cancelled car's late result and the winner's duplicate earn nothing.
    assert core.on_result(cars[1], result, 6.0) == []
    assert core.on_result(cars[0], result, 6.0) == []
    assert core.jobs["j"].credit == 0.25


def test_failed_job_issues_no_receipt() -> None:
    core = core_with("a")
    cars = offered(start(core, k=1, spares=0))
    out = core.on_failure(cars[0], {"job": "j", "reason": "crashed"}, 5.0)
    assert [a.type for a in out] == ["job_failed"]
    assert core.jobs["j"].receipt == ""


def test_the_dispatcher_knows_each_nodes_kind_and_a_status_without_one_is_a_car() -> None:
    core = core_with("car1")
    core.on_status("house", {"online": True, "kind": "home-battery"}, 1.0)
    assert core.nodes["house"].kind == "home-battery"
    assert core.nodes["car1"].kind == "car"
