"""A SunSpec battery inverter on Modbus TCP (pymodbus's asyncio server), for the tests.

Run as ``python sunspec_peer.py PORT``. It serves, from register 40000, the marker "SunS",
the common model 1, the three-phase inverter model 103, the storage model 124 and the end
model, on 127.0.0.1:PORT for any unit id. Commands on stdin, one per line, each answered
``ok``: ``set POINT VALUE`` changes one point (see `POINTS`: soc, reserve, charge_state,
grid, inverter_state, battery_temp, cabinet_temp, charge_rate, charge_source; ``raw`` values
such as 65535 may be given to publish "not implemented"). It prints ``ready`` once it listens.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

BASE = 40000
COMMON_AT = BASE + 2  # model 1 header
INVERTER_AT = COMMON_AT + 2 + 66  # model 103 header
STORAGE_AT = INVERTER_AT + 2 + 50  # model 124 header
END_AT = STORAGE_AT + 2 + 24


def _text(value: str, registers: int) -> list[int]:
    raw = value.encode().ljust(registers * 2, b"\0")
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, registers * 2, 2)]


def register_map() -> list[int]:
    """The whole map, from BASE to the end model, parked: grid up, 80 %, reserve 20 %."""
    common = [1, 66, *_text("ParkSim", 16), *_text("HB-10", 16), *_text("", 8)]
    common += [*_text("1.0", 8), *_text("SN4711", 16), 1, 0x8000]
    inverter = [103, 50] + [0] * 50
    inverter[2 + 12] = 3000  # W
    inverter[2 + 14] = 5000  # Hz × 10^-2
    inverter[2 + 15] = (-2) & 0xFFFF
    inverter[2 + 31] = 300  # TmpCab, × 10^-1: 30.0 °C
    inverter[2 + 34] = 250  # TmpOt (battery), 25.0 °C
    inverter[2 + 35] = (-1) & 0xFFFF  # Tmp_SF
    inverter[2 + 36] = 4  # St: MPPT
    storage = [124, 24] + [0] * 24
    storage[2 + 0] = 5000  # WChaMax, W
    storage[2 + 5] = 20  # MinRsvPct
    storage[2 + 6] = 800  # ChaState × 10^-1
    storage[2 + 9] = 6  # ChaSt: HOLDING
    storage[2 + 11] = 0  # InWRte
    storage[2 + 15] = 1  # ChaGriSet: PV
    storage[2 + 20] = (-1) & 0xFFFF  # ChaState_SF
    storage[2 + 23] = 0  # InOutWRte_SF
    return [0x5375, 0x6E53, *common, *inverter, *storage, 0xFFFF, 0]


# point: (register, how a command's value becomes the register)
POINTS = {
    "soc": (STORAGE_AT + 2 + 6, lambda v: round(float(v) * 10)),
    "reserve": (STORAGE_AT + 2 + 5, lambda v: round(float(v))),
    "charge_state": (STORAGE_AT + 2 + 9, int),
    "charge_rate": (STORAGE_AT + 2 + 11, lambda v: round(float(v)) & 0xFFFF),
    "charge_source": (STORAGE_AT + 2 + 15, int),
    "inverter_state": (INVERTER_AT + 2 + 36, int),
    "battery_temp": (INVERTER_AT + 2 + 34, lambda v: round(float(v) * 10) & 0xFFFF),
    "cabinet_temp": (INVERTER_AT + 2 + 31, lambda v: round(float(v) * 10) & 0xFFFF),
    "grid": (INVERTER_AT + 2 + 39, lambda v: 0 if v == "up" else 1 << 4),  # Evt1, low word
    "raw_soc": (STORAGE_AT + 2 + 6, int),
}


async def main(port: int) -> None:
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    device = SimDevice(
        id=0, simdata=[SimData(address=BASE, values=register_map(), datatype=DataType.REGISTERS)]
    )
    server = ModbusTcpServer(device, address=("127.0.0.1", port))
    await server.listen()
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode():
        words = line.split()
        if words and words[0] == "set":
            register, encode = POINTS[words[1]]
            await server.async_setValues(0, 16, register, [encode(words[2])])
        print("ok", flush=True)
    await server.shutdown()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
