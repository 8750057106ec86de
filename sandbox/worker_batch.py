"""The serving loop of a decoder worker started with ``max_batch`` above 1: concurrent jobs.

Every generate or chat job becomes rows of one `sandbox.models.engine.DecodeEngine` (a row per
prompt). Between decode steps the loop reads its socket without blocking, so a job that
arrives while others decode is opened and its first waiting prompt is prefilled into a free
row at once, and decodes with the others from the next step; a ``cancel`` drops that job's
rows alone. A job whose rows have all left is answered at once (``result``, or ``failed`` for
a job that failed alone); the ids of the protocol tell the answers apart. A job that asks for
``stream`` sends its rows' text in ``partial`` chunks first (`sandbox.worker_stream`). An
encode job (a decoder refuses it) and anything that is not a job is answered between steps too.
Every `WORK_INTERVAL_S`, and before each answer, the loop tells the pool how many tokens each
job's rows put through the model since the last time (``work``: prompt tokens at the join, one
per row and step), so that the energy of the batch is shared by work (`thermal.accounting`).

Stopping: one check serves every row, before every layer: it compares the page's hard-stop
generation with the one when the batch began (the worker had no job), and raises
`BatchPreempted` if a hard stop was written since. Then every job is answered
``failed``/``preempted``, the engine drops every row, and the worker acknowledges on the page
(after the device is idle). With no job left the worker acknowledges every stop written
meanwhile, as the one-job loop does after each job.

Whose error: as `sandbox.worker` (``bad_input`` only for the client's request; a prompt too
long for the model is the model's ``model_error``; anything else ``internal``).
"""

from __future__ import annotations

import select
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sandbox.jobs import JobInputError, Request, open_request, seal_output
from sandbox.models.engine import DecodeEngine
from sandbox.models.engine_text import TextJob
from sandbox.models.errors import ModelError
from sandbox.models.fast_decode import DecodeStep
from sandbox.models.pacing import LayerPacer
from sandbox.partials import ChunkStreamer
from sandbox.protocol import recv_message, send_message
from sandbox.stop_page import StopLevel
from sandbox.worker_errors import failed_message, node_error_detail
from sandbox.worker_stream import partial_sender

if TYPE_CHECKING:
    import socket

    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from sandbox.job_compute import JobComputer, Shape
    from sandbox.stop_page import StopPage


class BatchHost(Protocol):
    """What the batch loop uses of its confined worker (`sandbox.worker.Worker`)."""

    sock: socket.socket
    page: StopPage
    computer: JobComputer
    model: Any
    model_name: str

    @property
    def key(self) -> X25519PrivateKey:
        """The worker's HPKE private key (opens job inputs)."""
        ...

    def answer_other(self, message: dict[str, Any]) -> None:
        """Answer a message that is not a job (status, selftest)."""
        ...

    def device_idle(self) -> None:
        """Wait until the device has finished the work queued on it."""
        ...

    def acknowledge_idle(self) -> None:
        """Acknowledge the stop in force on the page (no job runs)."""
        ...


WORK_INTERVAL_S = 0.25
"""The most time between two ``work`` messages while jobs decode."""


class BatchPreempted(Exception):
    """Raised by the batch's per-layer check when a hard stop was written since it began."""


@dataclass(slots=True)
class LiveJob:
    """A job in the engine: its request, its rows' texts, how its output is shaped."""

    job_id: Any
    request: Request
    text: TextJob
    shape: Shape
    started: float
    streamer: ChunkStreamer | None = None


class BatchServer:
    """Concurrent jobs of one decoder worker (everything after `ready`).

    Args:
        worker: the confined worker (socket, page, job computer, key).
        rows: how many prompts decode together.
    """

    def __init__(self, worker: BatchHost, rows: int) -> None:
        self.worker = worker
        model = worker.model
        self.decoder = model
        self.engine = DecodeEngine(model.model, rows, DecodeStep(model.model))
        self.jobs: dict[Any, LiveJob] = {}
        self.waiting: deque[Any] = deque()  # jobs with prompts still to join, first come first
        self.owners: dict[int, tuple[Any, int]] = {}  # engine row -> (job id, prompt index)
        self._hard0 = worker.page.hard_generation()
        self._poll = select.poll()
        self._poll.register(worker.sock.fileno(), select.POLLIN)
        self._work: Counter[Any] = Counter()  # tokens through the model, by job, since told
        self._work_told = time.monotonic()

    def serve(self) -> None:
        """Answer messages and decode until ``exit`` or end of stream."""
        while True:
            if not self._read(block=not self.jobs):
                return
            if self.jobs:
                self._advance()

    # -- messages ----------------------------------------------------------------------------

    def _read(self, *, block: bool) -> bool:
        """Handle every message waiting (the first awaited when `block`); False at the end."""
        while block or self._poll.poll(0):
            block = False
            message = recv_message(self.worker.sock)  # a frame comes whole: never waits long
            if message is None or message["t"] == "exit":
                return False
            kind = message["t"]
            if kind == "job":
                self._admit(message)
            elif kind == "cancel":
                self._fail(message.get("id"), "cancelled", "cancelled by the pool")
            else:
                self.worker.answer_other(message)
        return True

    def _admit(self, message: dict[str, Any]) -> None:
        job_id, started = message.get("id"), time.perf_counter()
        worker, page = self.worker, self.worker.page
        if page.level() == StopLevel.HARD:
            if not self.jobs:
                worker.acknowledge_idle()
            self._send_failed(job_id, "stopped", "a hard stop is in force", started)
            return
        if not self.jobs:
            self._hard0 = page.hard_generation()  # the batch begins
        try:
            request = open_request(message.get("sealed", b""), worker.model_name, worker.key)
            text, shape = worker.computer.text_request(request)
            streamer = None
            if request.stream:  # each job streams its own rows' text
                send = partial_sender(worker.sock, job_id)
                streamer = ChunkStreamer(request, worker.model_name, send)
            on_piece = None if streamer is None else streamer.push
            job = LiveJob(
                job_id, request, TextJob(self.decoder, text, on_piece), shape, started, streamer
            )
        except JobInputError as exc:
            self._send_failed(job_id, "bad_input", str(exc), started)
        except ModelError as exc:
            self._send_failed(job_id, "model_error", str(exc), started)
        except Exception as exc:
            self._send_failed(job_id, "internal", node_error_detail(exc), started)
        else:
            self.jobs[job_id] = job
            self.waiting.append(job_id)
        if not self.jobs:
            worker.acknowledge_idle()

    # -- decoding ----------------------------------------------------------------------------

    def _check(self) -> None:
        if self.worker.page.hard_generation() != self._hard0:
            raise BatchPreempted

    def _advance(self) -> None:
        """Join waiting prompts into free rows, then one step for every row."""
        pacer = LayerPacer(self._check, self.engine.model.lm_head.weight.device)
        try:
            while self.waiting and self.engine.free:
                self._join_next(pacer)
            stepping = [self.owners[row][0] for row in self.engine.active()]
            finished = self.engine.step(pacer)
            self._work.update(stepping)  # one token each, before any of them is answered
            for row in finished:
                self._row_done(row)
            if time.monotonic() - self._work_told >= WORK_INTERVAL_S:
                self._tell_work()
        except BatchPreempted:
            self.worker.device_idle()
            self._fail_all("preempted", "hard stop")
            self.worker.page.acknowledge(self.worker.page.generation())
        except Exception as exc:  # the node's: every job of the batch shared the step
            self._fail_all("internal", node_error_detail(exc))
        if not self.jobs:
            self.worker.acknowledge_idle()

    def _join_next(self, pacer: LayerPacer) -> None:
        job = self.jobs[self.waiting[0]]
        index, row_request = job.text.next_row()
        if not job.text.waiting:
            self.waiting.popleft()
        try:
            row = self.engine.join(row_request, pacer)
        except BatchPreempted:
            raise
        except ModelError as exc:  # this prompt does not fit the model: its job alone fails
            self._fail(job.job_id, "model_error", str(exc))
            return
        self.owners[row] = (job.job_id, index)
        self._work[job.job_id] += len(row_request.prompt)
        if self.engine.row(row).done:
            self._row_done(row)

    def _row_done(self, row: int) -> None:
        job_id, index = self.owners.pop(row)
        job = self.jobs[job_id]
        job.text.finish(index, self.engine.leave(row))
        if not job.text.complete:
            return
        del self.jobs[job_id]
        self._tell_work()  # its last tokens count before its answer
        try:
            if job.streamer is not None:
                job.streamer.flush()  # the last chunk before the result
            output = job.shape(job.text.completions())
            sealed = seal_output(job.request, self.worker.model_name, output)
        except Exception as exc:
            self._send_failed(job_id, "internal", node_error_detail(exc), job.started)
            return
        send_message(
            self.worker.sock,
            {
                "t": "result",
                "id": job_id,
                "sealed": sealed,
                "compute_ms": (time.perf_counter() - job.started) * 1000,
            },
        )

    def _tell_work(self) -> None:
        """Send the tokens each job put through the model since the last ``work`` message."""
        if self._work:
            units = {job_id: n for job_id, n in self._work.items() if n}
            send_message(self.worker.sock, {"t": "work", "units": units})
            self._work.clear()
        self._work_told = time.monotonic()

    # -- failures ----------------------------------------------------------------------------

    def _fail(self, job_id: Any, reason: str, detail: str) -> None:
        """Drop `job_id`'s rows and answer it failed (nothing if it was answered already)."""
        job = self.jobs.pop(job_id, None)
        if job is None:
            return
        for row, (owner, _) in list(self.owners.items()):
            if owner == job_id:
                del self.owners[row]
                self.engine.leave(row)
        if job_id in self.waiting:
            self.waiting.remove(job_id)
        self._send_failed(job_id, reason, detail, job.started)

    def _fail_all(self, reason: str, detail: str) -> None:
        for job_id in list(self.jobs):
            self._fail(job_id, reason, detail)
        self.engine.clear()
        self.owners.clear()

    def _send_failed(self, job_id: Any, reason: str, detail: str, started: float) -> None:
        send_message(self.worker.sock, failed_message(job_id, reason, detail, started))
