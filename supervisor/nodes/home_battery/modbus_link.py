"""One Modbus TCP connection read on the stop thread, framed by pymodbus.

The requests and replies are pymodbus's own PDUs and socket framer; the socket is ours, so
that every wait goes through the stop thread's `ReaderControl.wait` (its hand-overs and policy
deadlines keep running while the device thinks, and the thread never blocks for long).
"""

from __future__ import annotations

import errno
import select
import socket
import time
from typing import Final

from pymodbus.framer import FramerSocket
from pymodbus.pdu import DecodePDU, ExceptionResponse, ReadHoldingRegistersRequest

from supervisor.vehicle.sink import ReaderControl

# The most registers one read may ask for (Modbus: 125).
MAX_READ: Final = 125
# Connecting waits in slices this long, so that the stop thread keeps coming round.
CONNECT_SLICE_S: Final = 0.05


class ModbusFailure(Exception):
    """The device did not answer, answered with a Modbus exception, or the link broke."""


class ModbusLink:
    """A Modbus TCP client on a socket of its own, for one unit id.

    Raises `ModbusFailure` from every call that fails; `InterruptedError` when the stop thread
    is closing. Not thread-safe: one stop thread uses it.
    """

    def __init__(
        self, host: str, port: int, unit_id: int, timeout_s: float, control: ReaderControl
    ) -> None:
        self.where = f"{host}:{port}"
        self.unit_id = unit_id
        self.timeout_s = timeout_s
        self.control = control
        self._framer = FramerSocket(DecodePDU(is_server=False))
        self._tid = 0
        self._buffer = b""
        self.sock = self._connect(host, port)

    def _connect(self, host: str, port: int) -> socket.socket:
        try:
            info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        except OSError as exc:
            raise ModbusFailure(f"cannot resolve {host}: {exc}") from None
        sock = socket.socket(info[0], socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.connect_ex(info[4])
        end = time.monotonic() + self.timeout_s
        while True:
            _, writable, _ = select.select([], [sock], [], CONNECT_SLICE_S)
            if writable:
                break
            self.control.wait((), 0.0)
            if self.control.closing:
                sock.close()
                raise InterruptedError
            if time.monotonic() >= end:
                sock.close()
                raise ModbusFailure(f"no connection to {self.where} within {self.timeout_s:g} s")
        error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            sock.close()
            raise ModbusFailure(
                f"cannot connect to {self.where}: {errno.errorcode.get(error, error)}"
            )
        return sock

    def close(self) -> None:
        """Close the connection."""
        self.sock.close()

    def read(self, address: int, count: int) -> list[int]:
        """Holding registers `address` .. `address + count - 1` (read in pieces of 125)."""
        values: list[int] = []
        while count > 0:
            piece = min(count, MAX_READ)
            values += self._read(address, piece)
            address += piece
            count -= piece
        return values

    def _read(self, address: int, count: int) -> list[int]:
        self._tid = self._tid % 0xFFFF + 1
        request = ReadHoldingRegistersRequest(
            address=address, count=count, dev_id=self.unit_id, transaction_id=self._tid
        )
        try:
            self.sock.sendall(self._framer.buildFrame(request))
        except OSError as exc:
            raise ModbusFailure(f"lost the connection to {self.where}: {exc}") from None
        end = time.monotonic() + self.timeout_s
        while True:
            used, pdu = self._framer.handleFrame(self._buffer, self.unit_id, self._tid)
            self._buffer = self._buffer[used:]
            if pdu is not None:
                break
            left = end - time.monotonic()
            if left <= 0:
                raise ModbusFailure(f"no answer from {self.where} within {self.timeout_s:g} s")
            if self.control.wait((self.sock.fileno(),), left):
                self._receive()
            if self.control.closing:
                raise InterruptedError
        if isinstance(pdu, ExceptionResponse):
            raise ModbusFailure(
                f"{self.where} refused registers {address}..{address + count - 1}"
                f" (Modbus exception {pdu.exception_code})"
            )
        registers = list(pdu.registers)
        if len(registers) < count:
            raise ModbusFailure(f"{self.where} sent {len(registers)} registers, not {count}")
        return registers[:count]

    def _receive(self) -> None:
        try:
            data = self.sock.recv(4096)
        except BlockingIOError:
            return
        except OSError as exc:
            raise ModbusFailure(f"lost the connection to {self.where}: {exc}") from None
        if not data:
            raise ModbusFailure(f"{self.where} closed the connection")
        self._buffer += data
