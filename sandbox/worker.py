"""``python -m sandbox.worker SOCK_FD PAGE_FD``: one confined inference worker.

The pool starts the process with a clean environment, only the socket and the stop page open,
and sends a ``start`` message (`sandbox.spawn.StartSpec` as a map). The worker confines itself in
the order of `sandbox.confine` (parent-death signal, no core dumps, network and IPC
namespaces, Landlock while still single-threaded, user drop),
loads the model and its HPKE key, warms up, installs its seccomp filter, and answers ``ready``
with its confinement status. Then it serves jobs one at a time until told to exit or its socket
closes. What each op computes is `sandbox.job_compute`'s: a decoder's chat template (pinned by
its manifest) is compiled at start, rendered once in the final confinement, and applied in a
sandboxed Jinja environment to every chat job.

Whose error: only the client's input is ``bad_input`` (a request that fails authentication or
is malformed, `sandbox.jobs.JobInputError`). Anything else that fails inside the worker (a file
it cannot read, a library that does not load, a bug) is ``internal``, the node's, with the
exception's type and, for system errors, the path and the worker's user. Start-up checks, as
the worker user, that its key, scratch directory and model files are readable, and rehearses a
sealed job in its final confinement, so that an unreadable installation fails the start with
its reason instead of the first job.

Stopping: before each layer the model calls `check`, which compares the page's hard-stop
generation with the one at the start of the job (one memory load) and raises `Preempted` if a
hard stop was written since; the worker then acknowledges on the page (time first) and answers
``failed``/``preempted``. After any job the worker acknowledges every stop written meanwhile,
since it is idle. Job data never leaves the process except sealed, and never reaches a log.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from sandbox import confine, hpke, landlock, syscalls
from sandbox.job_compute import JobComputer, load_chat_settings, rehearse_chat
from sandbox.jobs import (
    JobInputError,
    input_info,
    open_request,
    output_info,
    seal_output,
)
from sandbox.models.errors import ModelError
from sandbox.protocol import ProtocolError, recv_message, send_message
from sandbox.stop_page import StopLevel, StopPage
from sandbox.worker_errors import failed_message, node_error_detail
from sandbox.worker_stream import partial_sender, run_streamed

__all__ = [
    "Preempted",
    "Worker",
    "WorkerSetupError",
    "failed_message",
    "node_error_detail",
    "start",
]

# Imported as root before the uid drop: the model code and what it imports lazily, the escapes
# of the self-test, and libseccomp's binding (whose import runs ldconfig).
PRELOAD = (
    "sandbox.models.registry",
    "sandbox.models.runtime",
    "sandbox.models.encoder",
    "sandbox.models.decoder",
    "sandbox.models.generate",
    "sandbox.models.static_cache",
    "sandbox.models.fast_decode",
    "sandbox.models.engine",
    "sandbox.models.engine_text",
    "sandbox.worker_batch",
    "sandbox.worker_stream",
    "sandbox.partials",
    "sandbox.models.text",
    "sandbox.models.chat",
    "jinja2.sandbox",
    "jinja2.ext",
    "sandbox.models.errors",
    "safetensors.torch",
    "tokenizers",
    "secrets",
    "sandbox.escapes",
    "sandbox.reach",
    "sandbox.keys",
    "pyseccomp",
)


class Preempted(Exception):
    """Raised by the per-layer check when a hard stop was written during the job."""


class WorkerSetupError(Exception):
    """The worker cannot serve in its final confinement; the message names why (a path, the
    user). Reported as ``fatal`` at start, never as a job's bad input."""


class Worker:
    """The serving loop of a confined worker (everything after `ready`)."""

    def __init__(
        self,
        sock: socket.socket,
        page: StopPage,
        computer: JobComputer,
        private_key: bytes,
    ) -> None:
        self.sock = sock
        self.page = page
        self.computer = computer
        self.model = computer.model
        self.model_name = computer.model_name
        self.private_key = X25519PrivateKey.from_private_bytes(private_key)
        self.status: dict[str, Any] = {}
        self.max_batch = 1
        """Jobs served together (above 1 only for a decoder: `sandbox.worker_batch`)."""

    @property
    def key(self) -> X25519PrivateKey:
        """The worker's HPKE private key (opens job inputs)."""
        return self.private_key

    def serve(self) -> None:
        """Answer messages until ``exit`` or end of stream."""
        if self.max_batch > 1:
            from sandbox.worker_batch import BatchServer

            BatchServer(self, self.max_batch).serve()
            return
        while True:
            message = recv_message(self.sock)
            if message is None or message["t"] == "exit":
                return
            if message["t"] == "job":
                send_message(self.sock, self.run_job(message))
            else:
                self.answer_other(message)

    def answer_other(self, message: dict[str, Any]) -> None:
        """Answer a message that is not a job (``status``, ``selftest``).

        Raises:
            ProtocolError: an unknown message type.
        """
        kind = message["t"]
        if kind == "status":
            send_message(self.sock, {"t": "status", "status": self.status})
        elif kind == "selftest":
            from sandbox.escapes import try_escapes

            attempts, controls = try_escapes(message.get("targets", {}))
            send_message(self.sock, {"t": "selftest", "attempts": attempts, "controls": controls})
        else:
            raise ProtocolError(f"unknown message type {kind!r}")

    def device_idle(self) -> None:
        """On a GPU, wait for the (at most two) layers still queued: the ack means idle."""
        if str(self.model.device).startswith("cuda"):
            import torch

            torch.cuda.synchronize()

    def acknowledge_idle(self) -> None:
        """Acknowledge every stop written so far (the worker computes nothing now)."""
        generation = self.page.generation()
        if self.page.snapshot().ack_generation < generation:
            self.page.acknowledge(generation)

    def run_job(self, message: dict[str, Any]) -> dict[str, Any]:
        """Run one job; the reply never contains plaintext."""
        job_id = message.get("id")
        started = time.perf_counter()
        page = self.page
        hard0 = page.hard_generation()
        if page.level() == StopLevel.HARD:
            self.acknowledge_idle()
            return failed_message(job_id, "stopped", "a hard stop is in force", started)

        def check() -> None:
            if page.hard_generation() != hard0:
                raise Preempted

        try:
            request = open_request(message.get("sealed", b""), self.model_name, self.private_key)
            if request.stream:  # its text goes out in chunks first (sandbox.worker_stream)
                send = partial_sender(self.sock, job_id)
                output = run_streamed(self.computer, request, check, send)
            else:
                output = self.computer.compute(request, check)
            sealed = seal_output(request, self.model_name, output)
        except Preempted:
            self.device_idle()
            page.acknowledge(page.generation())
            return failed_message(job_id, "preempted", "hard stop", started)
        except JobInputError as exc:  # the client's: authentication failed or malformed request
            return failed_message(job_id, "bad_input", str(exc), started)
        except ModelError as exc:  # the model's own errors name no input
            return failed_message(job_id, "model_error", str(exc), started)
        except Exception as exc:  # the node's: never blamed on the client
            return failed_message(job_id, "internal", node_error_detail(exc), started)
        finally:
            self.acknowledge_idle()
        return {
            "t": "result",
            "id": job_id,
            "sealed": sealed,
            "compute_ms": (time.perf_counter() - started) * 1000,
        }


def rehearse_job(private_key: bytes, model: str) -> None:
    """Open and answer a sealed request to ourselves, as a client's job would be, so that every
    library on the job path is loaded and usable in the worker's final confinement.

    Raises:
        WorkerSetupError: naming the failure (a module that cannot load, a file, the user).
    """
    import cbor2

    reply = hpke.generate_keypair()
    body = {"v": 1, "op": "encode", "texts": ["rehearsal"], "reply_to": reply.public}
    own = hpke.public_key_of(private_key)
    try:
        sealed = hpke.seal(own, cbor2.dumps(body), input_info(model))
        request = open_request(sealed, model, private_key)
        answer = seal_output(request, model, {"embeddings": [[0.0]]})
        cbor2.loads(hpke.open_sealed(reply.private, answer, output_info(model)))
    except Exception as exc:
        raise WorkerSetupError(
            f"after dropping privileges the worker cannot open a job: {node_error_detail(exc)}"
        ) from exc


def _landlock_rules(spec: dict[str, Any]) -> list[landlock.Rule]:
    """What this worker may open (`sandbox.landlock.worker_rules`): the GPU's device nodes
    only for a worker that runs on it."""
    prefixes = (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)
    return landlock.worker_rules(
        python=landlock.python_roots(prefixes, sys.path),
        models_dir=Path(spec["models_dir"]),
        worker_key=Path(spec["worker_key"]),
        scratch=Path(spec["scratch"]),
        devices=landlock.nvidia_devices() if str(spec["device"]).startswith("cuda") else (),
    )


def start(sock: socket.socket, page: StopPage, spec: dict[str, Any]) -> Worker:
    """Confine, load and warm up; returns the worker ready to serve.

    Raises:
        landlock.LandlockError: the kernel cannot confine the worker's files (fail closed).
        Exception: any failure; `main` reports it as ``fatal`` and exits.
    """
    parent = int(spec["parent_pid"])
    steps = [
        confine.check_descriptors({0, 1, 2, sock.fileno(), page.fd}),
        confine.set_parent_death_signal(parent),
        confine.limit_core_dumps(),
    ]
    if spec.get("netns", True):
        steps.append(confine.new_network_namespace())
    else:
        steps.append(confine.Step("netns", False, "disabled by configuration"))
    # Libraries that want a temporary directory (torch's import asks for one) get scratch,
    # the only writable place. Landlock only covers threads started after it: this is the
    # last single-threaded moment.
    os.environ["TMPDIR"] = str(spec["scratch"])
    with contextlib.suppress(ImportError, RuntimeError):  # runs ldconfig: a program, so now
        importlib.import_module("pyseccomp")
    if spec.get("landlock", True):
        steps.append(confine.Step("landlock", True, landlock.restrict(_landlock_rules(spec))))
    else:
        steps.append(confine.Step("landlock", False, "disabled by configuration"))
    # Code comes from the installation (trusted) and is imported before the uid drop, because
    # the interpreter's own files may be readable only by root; data is read after the drop.
    import torch

    torch.set_num_threads(int(spec["threads"]))
    module, _, func = str(spec["loader"]).partition(":")
    load_model: Callable[..., Any] = getattr(importlib.import_module(module), func)
    for name in PRELOAD:
        with contextlib.suppress(ImportError):  # optional: the test loader needs no model code
            importlib.import_module(name)

    if spec.get("uid") is not None:
        uid, gid = int(spec["uid"]), int(spec["gid"])
        stdlib = os.path.dirname(os.__file__)
        steps += confine.drop_user(
            uid, gid, parent, keep_read_search=not confine.readable_by(stdlib, uid, gid)
        )
    else:
        steps.append(confine.Step("user", False, "disabled by configuration"))
    # The model's files must be readable by the worker user itself (not only through the
    # capability `drop_user` may keep while the interpreter is unreadable): a file it cannot
    # read fails the start, by name, instead of a job later.
    models_dir, key_file = Path(spec["models_dir"]), Path(spec["worker_key"])
    model_dir = models_dir / str(spec["model"])
    steps.append(
        confine.check_readable([models_dir], recursive=[model_dir] if model_dir.is_dir() else [])
    )
    os.chdir(spec["scratch"])
    from sandbox.keys import read_private_key

    try:
        private_key = read_private_key(key_file)
    except OSError as exc:
        raise confine.UnreadableError(
            f"the worker user (uid {os.geteuid()} gid {os.getegid()}) cannot read {key_file}:"
            f" {exc.strerror or type(exc).__name__}"
        ) from None
    model = load_model(
        spec["model"], models_dir, spec["device"], bytes(spec["operator_public_key"])
    )
    model.warmup()
    # The chat template is the model's code too: compiled now, from the files the manifest pins.
    chat = load_chat_settings(model, model_dir, bytes(spec["operator_public_key"]))
    if os.getuid() != 0:
        steps.append(confine.drop_capabilities())
    if spec.get("seccomp", True):
        steps.append(syscalls.install_seccomp())
    else:
        steps.append(confine.Step("seccomp", False, "disabled by configuration"))
    # A product after the filter proves the thread pool and allocator still work; a sealed
    # job to ourselves proves the job path does (a lazy import of an unreadable library would
    # otherwise fail the first client's job).
    torch.ones(64, 64) @ torch.ones(64, 64)
    rehearse_job(private_key, str(spec["model"]))
    rehearse_chat(chat)
    computer = JobComputer(
        model,
        str(spec["model"]),
        chat,
        int(spec["micro_batch"]) or None,
        int(spec.get("step_rows", 0)) or None,
    )
    worker = Worker(sock, page, computer, private_key)
    if model.kind == "decoder" and int(spec.get("max_batch", 1)) > 1:
        worker.max_batch = int(spec["max_batch"])
    worker.status = {
        "pid": os.getpid(),
        "model": spec["model"],
        "kind": model.kind,
        "device": str(model.device),
        "threads": torch.get_num_threads(),
        "uid": os.getuid(),
        "steps": [s.to_wire() for s in steps],
        "confined": all(s.applied for s in steps),
    }
    if worker.max_batch > 1:  # absent otherwise: today's status exactly
        worker.status["max_batch"] = worker.max_batch
    return worker


def main(argv: list[str]) -> int:
    """Entry point: ``SOCK_FD PAGE_FD``."""
    if len(argv) != 2:
        print("usage: python -m sandbox.worker SOCK_FD PAGE_FD", file=sys.stderr)
        return 2
    sock = socket.socket(fileno=int(argv[0]))
    sock.setblocking(True)
    page = StopPage.attach(int(argv[1]))
    message = recv_message(sock)
    if message is None or message["t"] != "start":
        return 2
    try:
        worker = start(sock, page, message["spec"])
    except BaseException as exc:
        send_message(sock, {"t": "fatal", "reason": f"{type(exc).__name__}: {exc}"})
        return 1
    send_message(sock, {"t": "ready", "status": worker.status})
    worker.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
