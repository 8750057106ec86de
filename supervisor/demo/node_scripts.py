"""The node demos' timelines: what the home battery and the robot do, second by second.

Each step is (at, note, change): at `at` scenario seconds the device changes as `change` says,
and the demo prints `note`. The daemon learns of it only through the device's own protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from .robot_device import RobotDevice
from .sunspec_device import SunSpecDevice


@dataclass(frozen=True, slots=True)
class Step:
    """One change of the device."""

    at: float
    note: str
    change: Callable[[Any], None]


@dataclass(frozen=True, slots=True)
class NodeScript:
    """A node demo's story."""

    name: str
    steps: tuple[Step, ...]
    duration_s: float


def _set(**points: Any) -> Callable[[Any], None]:
    def change(device: Any) -> None:
        for point, value in points.items():
            device.set(point, value)

    return change


HOME_BATTERY: Final = NodeScript(
    "A day with a home battery",
    (
        Step(0.5, "morning: battery at 80 %, backup reserve 20 %, grid up", _set()),
        Step(4.0, "the sun comes out: 2 kW of surplus solar", _set(charge_state=4, charge_rate=40)),
        Step(9.0, "power cut: the grid is down, the house runs on the battery", _set(grid_down=1)),
        Step(12.0, "the grid is back", _set(grid_down=0)),
        Step(
            17.0,
            "storm warning: the owner raises the backup reserve to 78 %",
            _set(reserve=78),
        ),
        Step(20.0, "the storm passed: reserve back to 20 %", _set(reserve=20)),
        Step(25.0, "the inverter stops answering", lambda d: SunSpecDevice.pause(d)),
    ),
    29.0,
)

ROBOT: Final = NodeScript(
    "A night of a robot on its dock",
    (
        Step(0.5, "on its dock, idle, charging at 84 %", _set()),
        Step(5.0, "the robot takes a task: vacuum the hall", _set(busy=True)),
        Step(6.0, "it leaves its dock", _set(docked=False, online=False, state=2)),
        Step(10.0, "back on its dock, charging", _set(docked=True, online=True, state=1)),
        Step(11.0, "task done", _set(busy=False)),
        Step(17.0, "the dock's charger is unplugged", _set(online=False, state=2)),
        Step(20.0, "the charger is back", _set(online=True, state=1)),
        Step(23.0, "the task system goes quiet", lambda d: RobotDevice.close(d)),
    ),
    # The quiet robot is noticed by its next poll going unanswered (a second, real time).
    32.0,
)

SCRIPTS: Final = {"home-battery": HOME_BATTERY, "robot": ROBOT}
