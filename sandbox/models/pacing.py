"""Layer pacing: the stop check before every layer and a bounded device queue.

Every forward pass of the project's models launches its layers through a `LayerPacer`. Before
each launch the pacer calls the caller's ``check()``, which raises to abort (the worker's check
reads the stop page). On CUDA, kernel launches are asynchronous, so a flag seen on the host says
nothing about how much work is still queued on the device: the pacer records an event after each
layer and, before launching layer i+2, waits for the event of layer i, so at most two layers are
ever in flight and stopping launches empties the GPU within about two layers' time (see the
pre-emption table in DESIGN.md: 557 ms of queued work unbounded, 4.6 ms bounded). On the CPU
every operation is synchronous and the events are skipped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Final

import torch

Check = Callable[[], None]

MAX_LAYERS_IN_FLIGHT: Final = 2


def no_check() -> None:
    """A check that never aborts (warm-up, tests)."""


class LayerPacer:
    """Calls ``check`` before each layer and keeps at most two layers queued on a GPU.

    One pacer serves one forward pass or one generation; it holds no tensors.

    Cancellation: ``check`` raising propagates out of `before_layer` unchanged; nothing is left
    queued beyond the layers already launched (at most two on a GPU).
    """

    __slots__ = ("_check", "_cuda", "_events")

    def __init__(self, check: Check, device: torch.device) -> None:
        self._check = check
        self._cuda = device.type == "cuda"
        self._events: deque[torch.cuda.Event] = deque()

    def before_layer(self) -> None:
        """Wait until fewer than two layers are in flight, then call ``check``."""
        if self._cuda:
            while len(self._events) >= MAX_LAYERS_IN_FLIGHT:
                self._events.popleft().synchronize()
        self._check()

    def after_layer(self) -> None:
        """Mark the end of the layer just launched (records a CUDA event on a GPU)."""
        if self._cuda:
            event = torch.cuda.Event()  # type: ignore[no-untyped-call]  # unannotated in torch
            event.record()
            self._events.append(event)

    def step(self) -> None:
        """A check between micro-batches or decode steps (no layer launched)."""
        self._check()
