"""The SunSpec source: a home battery's inverter polled over Modbus TCP on the stop thread.

On connecting it finds the SunSpec models (marker at ``base_address``, then each model's
header, to the end model); then every ``poll_s`` it reads the inverter and storage models,
decodes them (`sunspec`) and feeds the readings into the hot path, on the stop thread, so
that a grid outage in a reply is a hard stop before the next read. A device that stops
answering, refuses a read or lacks a model the rules need is a failed source (a hard stop
naming the device) until it answers again; the connection is then made anew.
"""

from __future__ import annotations

import logging
import time

import trio

from supervisor.vehicle.sink import ReaderControl, ReaderThread, ReadingSink
from supervisor.vehicle.state import SignalUpdate

from ..config import HomeBatteryConfig
from . import sunspec
from .modbus_link import ModbusFailure, ModbusLink
from .signals import CATALOG

LOG = logging.getLogger(__name__)
# At most this many models are walked before the map counts as broken.
MAX_MODELS = 64


class SunSpecSource:
    """A trio service feeding a SunSpec battery inverter into the hot path from its stop thread.

    Cancellation: ends the reader thread, which closes the connection. Errors: never raised out
    of `run`; a failing device is a failed source (a hard stop) and is retried.
    """

    name = "sunspec"
    owns_stop_thread = True

    def __init__(
        self,
        config: HomeBatteryConfig,
        sink: ReadingSink,
        *,
        thread: ReaderThread,
        priority: int = 0,
    ) -> None:
        self.config = config
        self.sink = sink
        self.thread = thread
        self.priority = priority
        self.device = f"SunSpec device at {config.host}:{config.port}"
        for path in CATALOG:
            sink.declare(path, config.max_age_s)
        self._failure = ""

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Poll the device until cancelled; started after the first connection attempt."""
        async with trio.open_nursery() as nursery:
            await nursery.start(
                lambda task_status: self.thread(
                    self._serve,
                    name="parkmesh-stop-sunspec",
                    priority=self.priority,
                    task_status=task_status,
                )
            )
            task_status.started()

    def _serve(self, control: ReaderControl) -> None:
        """The reader thread's body: connect, find the models, poll; again after a failure."""
        cfg = self.config
        while not control.closing:
            link: ModbusLink | None = None
            try:
                link = ModbusLink(cfg.host, cfg.port, cfg.unit_id, cfg.timeout_s, control)
                self._poll(control, link, self._models(link))
            except InterruptedError:
                return
            except ModbusFailure as exc:
                self._fail(f"{self.device} stopped answering: {exc}")
            except sunspec.SunSpecError as exc:
                self._fail(f"{self.device}: {exc}")
            finally:
                if link is not None:
                    link.close()
            control.started()
            control.wait((), cfg.poll_s)

    def _models(self, link: ModbusLink) -> tuple[sunspec.ModelAt, sunspec.ModelAt]:
        """Walk the map; returns the inverter and storage models (names the device)."""
        base = self.config.base_address
        if not sunspec.is_marker(link.read(base, 2)):
            raise sunspec.SunSpecError(f"no SunSpec marker at register {base}")
        found: dict[int, sunspec.ModelAt] = {}
        address = base + 2
        for _ in range(MAX_MODELS):
            model = sunspec.next_model(link.read(address, 2), address)
            if model is None:
                break
            found.setdefault(model.model, model)
            address = model.address + model.length
        else:
            raise sunspec.SunSpecError(f"no end model within {MAX_MODELS} models")
        if sunspec.COMMON in found:
            common = found[sunspec.COMMON]
            self.device = (
                f"{sunspec.device_name(link.read(common.address, common.length))} at {link.where}"
            )
        inverter = next((found[m] for m in sunspec.INVERTERS if m in found), None)
        if inverter is None:
            raise sunspec.SunSpecError("it publishes no inverter model (101, 102 or 103)")
        if sunspec.STORAGE not in found:
            raise sunspec.SunSpecError("it publishes no storage model (124)")
        return inverter, found[sunspec.STORAGE]

    def _poll(
        self, control: ReaderControl, link: ModbusLink, models: tuple[sunspec.ModelAt, ...]
    ) -> None:
        control.started()
        while not control.closing:
            started = time.monotonic()
            for model in models:
                body = link.read(model.address, model.length)
                received_ns = time.monotonic_ns()
                decode = (
                    sunspec.storage_readings
                    if model.model == sunspec.STORAGE
                    else sunspec.inverter_readings
                )
                stamp = received_ns / 1e9
                self.sink.feed(
                    [SignalUpdate(path, value, stamp) for path, value in decode(body)], received_ns
                )
            if self._failure:
                LOG.info("node source %s recovered (%s)", self.name, self.device)
                self._failure = ""
                self.sink.source_recovered(self.name)
            control.wait((), max(0.0, self.config.poll_s - (time.monotonic() - started)))
        raise InterruptedError

    def _fail(self, why: str) -> None:
        # The stop first: the log line can wait for the handler's lock, the battery cannot.
        self.sink.source_failed(self.name, why)
        if why != self._failure:
            LOG.error("node source %s failed: %s", self.name, why)
        self._failure = why
