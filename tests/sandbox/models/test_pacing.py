"""LayerPacer: the check before each layer, at most two layers queued on a GPU."""

from __future__ import annotations

from typing import ClassVar

import pytest
import torch

from sandbox.models.pacing import LayerPacer


class FakeEvent:
    """Stands in for torch.cuda.Event; records the order of record/synchronize."""

    log: ClassVar[list[str]] = []
    count = 0

    def __init__(self) -> None:
        FakeEvent.count += 1
        self.n = FakeEvent.count

    def record(self) -> None:
        FakeEvent.log.append(f"record {self.n}")

    def synchronize(self) -> None:
        FakeEvent.log.append(f"sync {self.n}")


def test_cuda_pacer_waits_for_layer_i_before_launching_i_plus_2(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(torch.cuda, "Event", FakeEvent)
    FakeEvent.log, FakeEvent.count = [], 0
    log = FakeEvent.log
    pacer = LayerPacer(lambda: log.append("check"), torch.device("cuda"))
    for layer in range(1, 5):
        pacer.before_layer()
        log.append(f"launch {layer}")
        pacer.after_layer()
    assert log == [
        "check",
        "launch 1",
        "record 1",
        "check",
        "launch 2",
        "record 2",
        "sync 1",
        "check",
        "launch 3",
        "record 3",
        "sync 2",
        "check",
        "launch 4",
        "record 4",
    ]


def test_cpu_pacer_only_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_events() -> None:
        raise AssertionError("no CUDA events on the CPU")

    monkeypatch.setattr(torch.cuda, "Event", no_events)
    calls: list[str] = []
    pacer = LayerPacer(lambda: calls.append("check"), torch.device("cpu"))
    for _ in range(3):
        pacer.before_layer()
        pacer.after_layer()
    pacer.step()
    assert calls == ["check"] * 4
