"""Scenario files: a scripted timeline of vehicle signals, for demos and tests.

A scenario is TOML::

    name = "An evening in the driveway"
    refresh_s = 0.1        # every signal is re-sent this often, as a real bus would
    max_age_s = 1.0        # and goes stale after this long without one

    [initial]
    "Vehicle.Powertrain.Transmission.SelectedGear" = 126

    [[event]]
    at = 12.5              # seconds from the start
    note = "driver door opens"
    set = { "Vehicle.Cabin.Door.Row1.DriverSide.IsOpen" = true }
    silence = []           # paths that stop being refreshed (a sensor dropping out)
    fail = ""              # non-empty: the source fails with this reason
    recover = false        # true: a failed source delivers again

The file is fully checked when loaded: VSS paths and value types, times in order.
"""

from __future__ import annotations

import logging
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from supervisor.config.errors import ConfigError
from supervisor.config.toml_lines import LineIndex

from .config import ScenarioConfig
from .sink import ReadingSink
from .state import SignalUpdate, Value
from .vss import lookup

LOG = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ScenarioEvent:
    """One step of the timeline."""

    at: float
    note: str
    set: dict[str, Value] = field(default_factory=dict)
    silence: tuple[str, ...] = ()
    fail: str = ""
    recover: bool = False


@dataclass(frozen=True, slots=True)
class Scenario:
    """A parsed scenario."""

    name: str
    refresh_s: float
    max_age_s: float
    initial: dict[str, Value]
    events: tuple[ScenarioEvent, ...]

    @property
    def paths(self) -> frozenset[str]:
        """Every VSS path the scenario sets."""
        paths = set(self.initial)
        for event in self.events:
            paths.update(event.set)
        return frozenset(paths)

    @property
    def duration_s(self) -> float:
        """The time of the last event."""
        return self.events[-1].at if self.events else 0.0


def load_scenario(path: Path) -> Scenario:
    """Read and check a scenario file.

    Raises:
        ConfigError: naming the file, line and key of the first problem.
    """
    try:
        text = path.read_text(encoding="utf-8")
        doc = tomllib.loads(text)
    except OSError as exc:
        raise ConfigError(f"cannot read scenario: {exc.strerror}", file=path) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=path) from None
    return parse_scenario(doc, path, LineIndex(text))


def parse_scenario(doc: dict[str, Any], path: Path | None, lines: LineIndex) -> Scenario:
    """Check a decoded scenario document (see `load_scenario`)."""

    def error(key: str, message: str) -> ConfigError:
        return ConfigError(message, file=path, line=lines.line_of(key), key=key)

    def values(table: Any, key: str) -> dict[str, Value]:
        if not isinstance(table, dict):
            raise error(key, "must be a table of VSS path = value")
        out: dict[str, Value] = {}
        for vss_path, raw in table.items():
            try:
                out[vss_path] = lookup(vss_path).coerce(raw)
            except (KeyError, ValueError) as exc:
                raise error(key, str(exc.args[0])) from None
        return out

    def number(raw: Any, key: str, minimum: float) -> float:
        if isinstance(raw, bool) or not isinstance(raw, int | float) or raw < minimum:
            raise error(key, f"must be a number >= {minimum}, not {raw!r}")
        return float(raw)

    events = []
    last = 0.0
    for index, raw in enumerate(doc.get("event", [])):
        key = f"event[{index}]"
        if not isinstance(raw, dict):
            raise error(key, "must be a table")
        unknown = set(raw) - {"at", "note", "set", "silence", "fail", "recover"}
        if unknown:
            raise error(f"{key}.{sorted(unknown)[0]}", "unknown key")
        at = number(raw.get("at"), f"{key}.at", 0.0)
        if at < last:
            raise error(f"{key}.at", f"events must be in time order ({at} < {last})")
        last = at
        silence = raw.get("silence", [])
        if not isinstance(silence, list) or not all(isinstance(p, str) for p in silence):
            raise error(f"{key}.silence", "must be a list of VSS paths")
        events.append(
            ScenarioEvent(
                at=at,
                note=str(raw.get("note", "")),
                set=values(raw.get("set", {}), f"{key}.set"),
                silence=tuple(silence),
                fail=str(raw.get("fail", "")),
                recover=bool(raw.get("recover", False)),
            )
        )
    return Scenario(
        name=str(doc.get("name", path.stem if path else "scenario")),
        refresh_s=number(doc.get("refresh_s", 0.1), "refresh_s", 0.001),
        max_age_s=number(doc.get("max_age_s", 1.0), "max_age_s", 0.001),
        initial=values(doc.get("initial", {}), "initial"),
        events=tuple(events),
    )


class ScenarioSource:
    """A trio service that plays a scenario into `sink` (the hot path), in real time scaled
    by `speed`.

    Scenario times, refresh periods and maximum ages are all scenario seconds: at `speed` 4 a
    signal silenced for 2 s is silent for 0.5 s of real time and goes stale after a quarter of
    its declared age, so an accelerated run decides exactly as a real-time one.
    After the last event the final values keep being refreshed, as a parked car's bus would.
    `on_event(event)` is called for each event after its readings are fed (the demo prints it).

    Cancellation: stops playing.
    """

    name = "scenario"

    def __init__(
        self,
        scenario: Scenario,
        sink: ReadingSink,
        speed: float = 1.0,
        on_event: Callable[[ScenarioEvent], None] | None = None,
    ) -> None:
        self.scenario = scenario
        self.sink = sink
        self.speed = speed
        self.on_event = on_event
        self.values: dict[str, Value] = dict(scenario.initial)
        self._silent: set[str] = set()
        # The timeline waits for this (the demo warms its workers up meanwhile); the initial
        # values are kept fresh while it waits.
        self.go = trio.Event()
        self.go.set()
        for path in scenario.paths:
            sink.declare(path, scenario.max_age_s / speed)

    @classmethod
    def from_config(cls, config: ScenarioConfig, sink: ReadingSink) -> ScenarioSource:
        """Build from ``[vehicle.scenario]``. Raises ConfigError for a bad file."""
        return cls(load_scenario(config.file), sink, config.speed)

    def _refresh(self) -> None:
        received_ns = time.monotonic_ns()
        stamp = received_ns / 1e9
        self.sink.feed(
            [SignalUpdate(p, v, stamp) for p, v in self.values.items() if p not in self._silent],
            received_ns,
        )

    def _apply(self, event: ScenarioEvent) -> None:
        self._silent.update(event.silence)
        self._silent.difference_update(event.set)
        self.values.update(event.set)
        if event.fail:
            self.sink.source_failed(self.name, event.fail)
        if event.recover:
            self.sink.source_recovered(self.name)
        self._refresh()
        LOG.info("scenario: %s", event.note or f"event at {event.at} s")
        if self.on_event is not None:
            self.on_event(event)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Play the timeline, then keep the final state fresh, until cancelled."""
        self._refresh()
        task_status.started()
        while not self.go.is_set():
            with trio.move_on_after(self.scenario.refresh_s / self.speed):
                await self.go.wait()
            self._refresh()
        start = trio.current_time()
        pending = list(self.scenario.events)
        refresh = self.scenario.refresh_s / self.speed
        next_refresh = trio.current_time() + refresh
        while True:
            next_event = start + pending[0].at / self.speed if pending else None
            if next_event is not None and next_event <= next_refresh:
                await trio.sleep_until(next_event)
                self._apply(pending.pop(0))
            else:
                await trio.sleep_until(next_refresh)
                self._refresh()
                next_refresh += refresh
