"""Streamed jobs at the dispatcher's core: the first car that streams is followed and the others
cancelled, chunks go to the client one by one (never stored), and the streaming car's failure
ends the job with its reason instead of starting a spare over."""

from __future__ import annotations

from uplink.dispatcher.core import DispatcherCore

from .test_core import core_with, offered, start

RESULT = {"output": b"o", "timings": {}, "energy_j": 1.0}


def _chunk(seq: int) -> dict[str, object]:
    return {"job": "j", "seq": seq, "chunk": b"sealed-%d" % seq}


def _running(k: int, spares: int = 1) -> tuple[DispatcherCore, list[str]]:
    core = core_with("a", "b", "c")
    cars = offered(start(core, k=k, spares=spares, tier="interactive"))
    for car in cars:
        core.on_accept(car, "j", 2.5)
    core.take_changed()
    return core, cars


def test_the_first_car_streams_and_the_others_are_cancelled() -> None:
    core, (first, second) = _running(k=2)
    out = core.on_partial(second, _chunk(0), 3.0)
    [forward, cancel] = out
    alias = core.jobs["j"].replicas[second].alias
    assert (forward.to, forward.to_node, forward.type) == ("alice", False, "job_partial")
    assert forward.body == {"job": "j", "seq": 0, "chunk": b"sealed-0", "car": alias}
    assert forward.msg_id == "j:job_partial:0"
    assert (cancel.to, cancel.type, cancel.body["reason"]) == (
        first,
        "cancel",
        "another car streams",
    )
    assert [j.job_id for j in core.take_changed()] == ["j"]  # the cancel is committed
    assert core.on_partial(first, _chunk(0), 3.1) == []  # the cancelled car's chunk: dropped
    [more] = core.on_partial(second, _chunk(1), 3.2)
    assert more.type == "job_partial" and more.body["seq"] == 1
    assert core.take_changed() == []  # a chunk alone changes nothing to store
    out = core.on_result(second, {"job": "j", **RESULT}, 4.0)
    assert [a.type for a in out] == ["job_result", "receipt"]
    assert core.on_partial(second, _chunk(2), 4.1) == []  # too late
    assert (core.streams.chunks["j"], core.streams.dropped["j"]) == (2, 2)


def test_the_streaming_cars_failure_ends_the_job_with_its_reason() -> None:
    core, (car,) = _running(k=1, spares=2)
    core.on_partial(car, _chunk(0), 3.0)
    out = core.on_failure(car, {"job": "j", "reason": "preempted", "detail": "hard stop"}, 3.5)
    assert offered(out) == []  # no spare starts the text over
    [told] = [a for a in out if a.type == "job_failed"]
    assert told.body == {"job": "j", "reason": "preempted", "detail": "hard stop"}
    assert core.jobs["j"].state == "failed"


def test_a_job_that_never_streamed_is_replaced_as_before() -> None:
    core, (car,) = _running(k=1, spares=1)
    out = core.on_failure(car, {"job": "j", "reason": "preempted"}, 3.5)
    assert len(offered(out)) == 1 and core.jobs["j"].state == "running"
