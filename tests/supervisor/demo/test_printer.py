"""The demo's narration reads as a story: one clock, SERVING when a job runs, the state of
charge, no line twice, one job id per job, and a failure's reason said once."""

from __future__ import annotations

import io

from supervisor.demo.printer import DemoPrinter
from supervisor.policy import Decision, Phase
from supervisor.policy.reasons import Reason
from uplink.demo import MeshEvent, _why


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def decision(phase: Phase, *reasons: str) -> Decision:
    return Decision(phase, tuple(Reason("r", r) for r in reasons), False, 0.0, 0.0)


def narrate() -> tuple[DemoPrinter, io.StringIO, Clock]:
    clock, out = Clock(), io.StringIO()
    printer = DemoPrinter(clock, speed=2.0, out=out)
    printer.soc = lambda: 61.6
    return printer, out, clock


def test_serving_is_told_when_a_job_runs_and_its_end_is_not_told_twice() -> None:
    printer, out, clock = narrate()
    printer.decision(decision(Phase.ELIGIBLE))
    clock.now += 1
    printer.decision(decision(Phase.SERVING))
    printer.decision(decision(Phase.ELIGIBLE))  # the job ended: the mesh line says so
    printer.decision(decision(Phase.SERVING))
    lines = out.getvalue().splitlines()
    assert [line.split(" s  ", 1)[1].split("  (")[0] for line in lines] == [
        "✓ ELIGIBLE",
        "▶ SERVING",
        "▶ SERVING",
    ]
    assert all(line.endswith("(SoC 62 %)") for line in lines)


def test_the_same_words_are_not_printed_twice_and_the_clock_runs_from_the_start() -> None:
    printer, out, clock = narrate()
    printer.line("parkmesh demo: start")
    clock.now += 10  # the worker warms up: the clock goes on, it does not start again
    printer.decision(decision(Phase.NOT_ELIGIBLE, "driver door open"))
    printer.decision(decision(Phase.NOT_ELIGIBLE, "driver door open"))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[1].startswith("  20.0 s")  # 10 s at 2x: scenario time since the first line
    assert [r["t"] for r in printer.record] == [0.0, 20.0]


def test_a_job_has_one_id_in_every_line_and_a_reason_is_said_once() -> None:
    printer, _out, _ = narrate()
    printer.car_id = "car"
    printer.mesh(MeshEvent("result", "car", "949d917f", "car returns job 949d917f"))
    printer.mesh(MeshEvent("job_done", "alias", "949d917f", "job 949d917f done in 30 ms"))
    assert [r["job"] for r in printer.record] == ["949d917f", "949d917f"]
    assert _why("cancelled", "cancelled: another car won") == "cancelled: another car won"
    assert _why("declined", "not accepting: door open") == "declined (not accepting: door open)"
    assert _why("preempted", "") == "preempted"
