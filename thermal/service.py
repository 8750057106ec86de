"""`BudgetService`: the budget core in the daemon, re-evaluated every second and on demand.

The service owns the `Budget`, the owner's preferences (loaded from and saved to the
preference store), the curtailment events, the device monitor and the power capper. It
re-evaluates every ``evaluate_every_s``, at the exact second a curtailment window opens or
closes, when the runway runs out, and at once when a curtailment or a preference is added, and
tells `on_decision` whenever the decision changes (ignoring the runway counting down).
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import trio

from .accounting import JobEnergyMeter, open_job_meter
from .budget import Budget
from .config import BudgetConfig
from .curtailment import CurtailmentEvent, next_boundary, prune
from .decision import BudgetDecision
from .energy import EnergyPicture, project_soc
from .inputs import BudgetClock, DeviceReadings, VehicleReadings
from .powercap import PowerCapper
from .preferences import OwnerPreferences, next_departure, set_preference
from .prefstore import PreferenceStore
from .sensors import DeviceMonitor

# A device read (NVML, psutil) that takes longer than this counts as a failed source, s.
DEVICE_TIMEOUT_S = 2.0
# Wake a hair after a window boundary so that `now` is inside (or past) the window, s.
BOUNDARY_EPSILON_S = 0.001
# Curtailment windows held at once: an operator needs a few; a bound keeps a client from
# growing the list without end.
MAX_CURTAILMENTS = 64

DecisionListener = Callable[[BudgetDecision], None]


def local_now() -> datetime:
    """The wall clock, aware, in the local zone."""
    return datetime.now().astimezone()


@dataclass(frozen=True, slots=True)
class BudgetStatistics:
    """Counters for status screens."""

    evaluations: int
    notifications: int
    device_failures: int
    computed_tonight_s: float
    curtailments: int


class BudgetService:
    """The budget as a trio service.

    Args:
        config: the ``[budget]`` section.
        vehicle: returns the car's readings now (the daemon builds them from its vehicle
            state, `supervisor.daemon.vss_readings`). Called on every evaluation,
            synchronously; must not block.
        store: where the owner's preferences live; None keeps them in memory only.
        preferences: the starting preferences; by default loaded from `store` (or defaults).
        on_decision: told each changed decision, synchronously; must only queue the news.
        monitor: the device's sources (`DeviceMonitor.open` of ``config.device_temperature``
            finds them).
        capper: enforces the cap; by default on the monitor's NVML device, if any.
        wall_clock: aware wall-clock time (tests pass one driven by trio's clock).
        rng: draws the randomised starts of curtailments.

    Raises:
        PreferenceError: the stored preferences are invalid (file and field named).
    """

    def __init__(
        self,
        config: BudgetConfig,
        vehicle: Callable[[], VehicleReadings],
        *,
        store: PreferenceStore | None = None,
        preferences: OwnerPreferences | None = None,
        on_decision: DecisionListener | None = None,
        monitor: DeviceMonitor,
        capper: PowerCapper | None = None,
        wall_clock: Callable[[], datetime] = local_now,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.vehicle = vehicle
        self.store = store
        self.preferences = preferences or (store.load() if store else OwnerPreferences())
        self.on_decision = on_decision
        self.monitor = monitor
        self.capper = capper or PowerCapper(self.monitor.device)
        self.wall_clock = wall_clock
        self.rng = rng or random.Random()
        self.budget = Budget(config)
        self.curtailments: tuple[CurtailmentEvent, ...] = ()
        self.decision: BudgetDecision | None = None
        self.device = DeviceReadings()
        self.vehicle_readings: VehicleReadings | None = None
        self._wake = trio.Event()
        self._busy = False
        self._busy_since: float | None = None
        self._computed_s = 0.0
        self._night: object = None
        self._evaluations = 0
        self._notifications = 0
        self._device_failures = 0

    # -- inputs (synchronous, callable from any trio task) -------------------------------------

    def add_curtailment(self, event: CurtailmentEvent) -> CurtailmentEvent:
        """Obey `event` (its random start shift drawn now); re-evaluates at once.

        Returns the event as accepted, with its shift.
        """
        accepted = event.randomized(self.rng)
        kept = prune(self.curtailments, self.wall_clock())
        if len(kept) >= MAX_CURTAILMENTS:
            raise ValueError(f"request_json: at most {MAX_CURTAILMENTS} curtailments at once")
        self.curtailments = (*kept, accepted)
        self.evaluate_now()
        self._wake.set()
        return accepted

    def add_curtailment_json(self, text: str) -> dict[str, Any]:
        """`add_curtailment` from the ``AddCurtailment`` JSON form; returns the accepted event.

        Raises:
            ValueError: not JSON, or a bad key (named).
        """
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"request_json: not JSON: {exc}") from None
        return self.add_curtailment(CurtailmentEvent.from_json(data, self.wall_clock())).to_json()

    def set_preferences(self, prefs: OwnerPreferences) -> None:
        """Adopt (and persist) new preferences; re-evaluates at once.

        Raises:
            OSError: the store cannot be written (the preferences are not adopted).
        """
        if self.store is not None:
            self.store.save(prefs)
        self.preferences = prefs
        self.evaluate_now()

    def set_preference(self, name: str, value: str) -> Any:
        """Set one preference from its text form; returns the value as set.

        Raises:
            PreferenceError: unknown name or bad value (field named).
        """
        prefs = set_preference(self.preferences, name, value)
        self.set_preferences(prefs)
        return prefs.to_json()[name]

    def set_busy(self, busy: bool) -> None:
        """Whether a job runs now; busy time counts against the nightly compute-hours cap."""
        now = trio.current_time()
        if self._busy and self._busy_since is not None:
            self._computed_s += now - self._busy_since
        self._busy, self._busy_since = busy, (now if busy else None)

    def request_evaluation(self) -> None:
        """Re-evaluate soon (the vehicle state changed, say); returns at once."""
        self._wake.set()

    # -- evaluation ----------------------------------------------------------------------------

    def night_started(self) -> datetime:
        """When tonight began for the nightly cap: the last noon, in the wall clock's zone."""
        now_wall = self.wall_clock()
        night = (now_wall - timedelta(hours=12)).date()
        return datetime.combine(night, time(12), tzinfo=now_wall.tzinfo)

    def restore_computed_tonight(self, seconds: float) -> None:
        """Count `seconds` of compute done tonight before this daemon started (the ledger
        knows them), so that a restart does not reset the nightly cap."""
        self.computed_tonight_s()  # starts tonight's count if the night changed
        self._computed_s += max(0.0, seconds)
        self._wake.set()

    def computed_tonight_s(self) -> float:
        """Compute time since noon (busy time, see `set_busy`)."""
        now_wall = self.wall_clock()
        night = (now_wall - timedelta(hours=12)).date()
        if night != self._night:
            self._night, self._computed_s = night, 0.0
            if self._busy:
                self._busy_since = trio.current_time()
        running = trio.current_time() - self._busy_since if self._busy_since is not None else 0.0
        return self._computed_s + running

    def evaluate_now(self) -> BudgetDecision:
        """Decide with the latest device readings; tells `on_decision` if the decision changed."""
        now = self.wall_clock()
        self.curtailments = prune(self.curtailments, now)
        self.vehicle_readings = self.vehicle()
        decision = self.budget.evaluate(
            self.vehicle_readings,
            self.device,
            self.preferences,
            BudgetClock(now, trio.current_time()),
            self.curtailments,
            self.computed_tonight_s(),
        )
        decision = self.capper.apply(decision)
        self._evaluations += 1
        previous, self.decision = self.decision, decision
        if not decision.same_as(previous):
            self._notifications += 1
            if self.on_decision is not None:
                self.on_decision(decision)
        return decision

    async def _read_device(self) -> None:
        if self.monitor.source in (None, "custom"):
            self.device = self.monitor.read()
            return
        with trio.move_on_after(DEVICE_TIMEOUT_S):
            self.device = await trio.to_thread.run_sync(self.monitor.read, abandon_on_cancel=True)
            return
        self._device_failures += 1
        self.device = self.monitor.failure(f"no answer within {DEVICE_TIMEOUT_S:g} s")

    def _sleep_s(self) -> float:
        """Until the next regular evaluation, window boundary or end of the runway."""
        wait = self.config.evaluate_every_s
        now = self.wall_clock()
        boundary = next_boundary(self.curtailments, now)
        if boundary is not None:
            wait = min(wait, boundary.timestamp() - now.timestamp() + BOUNDARY_EPSILON_S)
        if self.decision is not None and self.decision.allowed_w > 0:
            wait = min(wait, self.decision.runway_s + BOUNDARY_EPSILON_S)
        return max(0.0, wait)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Evaluate until cancelled; `started` once the first decision is made.

        Cancellation: stops evaluating, and puts the GPU's default power limit back if the
        service changed it.

        Error handling: a failing device source is a reading (hot), not an exception. An
        exception from `vehicle` or `on_decision` propagates (the daemon must not run without
        its budget).
        """
        try:
            await self._read_device()
            self.evaluate_now()
            task_status.started()
            while True:
                with trio.move_on_after(self._sleep_s()):
                    await self._wake.wait()
                self._wake = trio.Event()
                await self._read_device()
                self.evaluate_now()
        finally:
            self.capper.restore()

    def open_job_meter(self) -> JobEnergyMeter:
        """A per-job energy meter on the best counter of this host (NVML, RAPL, else the
        allowed power integrated over each job's own interval), falling back to the estimate
        if the counter fails. Use it from the task that starts and finishes jobs."""

        def allowed_w() -> float:
            # Not gated on the busy flag: the meter only counts the intervals a job ran, and
            # a flag cleared before the meter is read would make every job cost 0 J.
            return self.decision.allowed_w if self.decision is not None else 0.0

        return open_job_meter(self.monitor.device, allowed_w, clock=trio.current_time)

    # -- views -----------------------------------------------------------------------------

    def statistics(self) -> BudgetStatistics:
        """A snapshot of the counters."""
        return BudgetStatistics(
            self._evaluations,
            self._notifications,
            self._device_failures,
            self.computed_tonight_s(),
            len(self.curtailments),
        )

    def snapshot(self) -> dict[str, Any]:
        """The budget for the API's ``GetBudget`` and the TUI (keys of the facade's ``budget()``
        plus the decision's own: allowed_w, runway_s, derating, duty_cycle, reasons, binding)."""
        decision = self.decision or self.evaluate_now()
        v = self.vehicle_readings
        prefs, cfg, now = self.preferences, self.config, self.wall_clock()
        dep = next_departure(prefs, now)
        out: dict[str, Any] = decision.to_json()
        temps = dataclasses.asdict(v.temperatures) if v is not None else {}
        temps["gpu"] = self.device.gpu_temp_c
        out.update(
            {
                "allowed_power_w": out["allowed_w"],
                "soc_percent": v.soc_percent if v is not None else None,
                "floor_percent": prefs.charge_floor_percent,
                "charging": v.charging if v is not None else False,
                "departure": dep[0].isoformat() if dep else None,
                "target_soc_percent": dep[1].target_percent if dep else None,
                "temperatures_c": temps,
                "failed_sources": dict(self.device.failed),
                "computed_tonight_h": round(self.computed_tonight_s() / 3600.0, 4),
                "curtailments": [self._curtailment_view(e) for e in self.curtailments],
                "projection": [],
            }
        )
        if v is not None and v.soc_percent is not None:
            picture = EnergyPicture(
                soc_percent=v.soc_percent,
                capacity_kwh=v.capacity_kwh or cfg.capacity_kwh,
                charge_kw=(v.charge_power_kw or 0.0) if v.charging else 0.0,
                load_kw=(decision.allowed_w + cfg.host_baseline_w) / 1000.0,
                floor_percent=prefs.charge_floor_percent,
                departure_in_s=dep[0].timestamp() - now.timestamp() if dep else None,
            )
            runway = decision.runway_s if decision.allowed_w > 0 else 0.0
            out["projection"] = [
                {"t_s": round(t, 1), "soc_percent": round(s, 2)}
                for t, s in project_soc(picture, runway)
            ]
        return out

    def _curtailment_view(self, e: CurtailmentEvent) -> dict[str, Any]:
        cfg = self.config
        view = e.to_json()
        view["until"] = None if math.isinf(e.duration_s) else e.effective_end.isoformat()
        view["max_power_w"] = e.cap_w(
            cfg.nominal_compute_w, cfg.host_baseline_w, cfg.curtail_level_fractions
        )
        view["active"] = e.active(self.wall_clock())
        return view
