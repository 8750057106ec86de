"""The demo's home battery: a SunSpec inverter on Modbus TCP (pymodbus's server), on loopback.

It publishes from register 40000 the "SunS" marker, the common model 1, the inverter model 103,
the storage model 124 and the end model, and runs its asyncio loop on a thread of its own; the
demo changes its points with `set`, as the battery would. The daemon reads it with its real
SunSpec source, so the demo exercises the same protocol a house's inverter speaks.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from pymodbus.server import ModbusTcpServer

BASE: Final = 40000
_COMMON: Final = BASE + 2
_INVERTER: Final = _COMMON + 2 + 66
_STORAGE: Final = _INVERTER + 2 + 50


def _text(value: str, registers: int) -> list[int]:
    raw = value.encode().ljust(registers * 2, b"\0")
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, registers * 2, 2)]


def register_map() -> list[int]:
    """The map from `BASE` to the end model: grid up, 80 % charged, the owner's reserve 20 %."""
    common = [1, 66, *_text("ParkSim", 16), *_text("HB-10", 16), *_text("", 8)]
    common += [*_text("1.0", 8), *_text("DEMO-1", 16), 1, 0x8000]
    inverter = [103, 50, *[0] * 50]
    inverter[2 + 14], inverter[2 + 15] = 5000, (-2) & 0xFFFF  # 50.00 Hz
    inverter[2 + 31], inverter[2 + 34] = 300, 250  # cabinet 30.0 °C, battery 25.0 °C
    inverter[2 + 35], inverter[2 + 36] = (-1) & 0xFFFF, 2  # Tmp_SF; St SLEEPING
    storage = [124, 24, *[0] * 24]
    storage[2 + 0], storage[2 + 5], storage[2 + 6] = 5000, 20, 800  # WChaMax, MinRsvPct, SoC
    storage[2 + 9], storage[2 + 15], storage[2 + 20] = 6, 1, (-1) & 0xFFFF  # HOLDING, PV, SoC_SF
    return [0x5375, 0x6E53, *common, *inverter, *storage, 0xFFFF, 0]


# A point the demo changes: its register, and how its value becomes the register.
POINTS: Final[dict[str, tuple[int, Callable[[float], int]]]] = {
    "soc": (_STORAGE + 2 + 6, lambda v: round(v * 10)),
    "reserve": (_STORAGE + 2 + 5, round),
    "charge_state": (_STORAGE + 2 + 9, int),
    "charge_rate": (_STORAGE + 2 + 11, lambda v: round(v) & 0xFFFF),
    "inverter_state": (_INVERTER + 2 + 36, int),
    "battery_temp": (_INVERTER + 2 + 34, lambda v: round(v * 10) & 0xFFFF),
    "grid_down": (_INVERTER + 2 + 39, lambda v: (1 << 4) if v else 0),  # Evt1 GRID_DISCONNECT
}


class SunSpecDevice:
    """A running simulated inverter; `port` is where it listens on 127.0.0.1."""

    def __init__(self, loop: asyncio.AbstractEventLoop, server: ModbusTcpServer, port: int) -> None:
        self._loop = loop
        self._server = server
        self.port = port
        self.paused = False

    def set(self, point: str, value: float) -> None:
        """Change one of `POINTS` (waits until the server holds the new value)."""
        register, encode = POINTS[point]
        coro = self._server.async_setValues(0, 16, register, [encode(value)])
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=5)

    def pause(self) -> None:
        """Stop answering: the server closes (a device that went away)."""
        self.paused = True
        coro = self._server.shutdown()  # type: ignore[no-untyped-call]
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_inverter() -> Iterator[SunSpecDevice]:
    """Start the simulated inverter on a thread; stopped when the block ends.

    Raises: ImportError without pymodbus (``pip install parkmesh[battery]``).
    """
    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    port = _free_port()
    loop = asyncio.new_event_loop()
    device = SimDevice(
        id=0, simdata=[SimData(address=BASE, values=register_map(), datatype=DataType.REGISTERS)]
    )
    ready = threading.Event()
    holder: list[ModbusTcpServer] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)

        async def start() -> None:
            server = ModbusTcpServer(device, address=("127.0.0.1", port))
            await server.listen()
            holder.append(server)
            ready.set()

        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=serve, name="parkmesh-demo-inverter", daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the demo inverter did not start")
    inverter = SunSpecDevice(loop, holder[0], port)
    try:
        yield inverter
    finally:
        if not inverter.paused:
            inverter.pause()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
