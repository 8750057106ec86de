"""The operator's control requests, in the dispatcher's own state file (table ``controls``).

``parkmesh dispatcher control ...`` writes one row per car (`ControlStore.request`); the running
dispatcher, which alone holds the signing key, picks the unsent rows up (`unsent`), signs and
publishes them and notes the message id (`mark_sent`); each car's ``control_ack`` is recorded
against its row (`acknowledge`), and the command reads the rows back (`rows`) until every car
answered or it gives up. The table is created on open (``CREATE TABLE IF NOT EXISTS``): the
command may write a request before the dispatcher ever opened the file.

Calls are synchronous and short; `sqlite3.Error` propagates.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS controls (
    request TEXT NOT NULL, car TEXT NOT NULL, type TEXT NOT NULL, body TEXT NOT NULL,
    created REAL NOT NULL, msg_id TEXT, sent REAL, acked REAL, ok INTEGER, detail TEXT,
    PRIMARY KEY (request, car)
);
CREATE INDEX IF NOT EXISTS controls_unsent ON controls (sent);
"""

TYPES = ("drain", "resume", "curtail")


@dataclass(frozen=True, slots=True)
class ControlRow:
    """One car's part of a request: `ok` is None until the car's ``control_ack`` came."""

    request: str
    car: str
    type: str
    body: Mapping[str, Any]
    sent: float | None
    ok: bool | None
    detail: str


class ControlStore:
    """The ``controls`` table of a dispatcher state file (see the module docstring).

    Raises:
        sqlite3.Error: on opening, when the file is not a database or cannot be written.
    """

    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def request(
        self, msg_type: str, body: Mapping[str, Any], cars: Iterable[str], now: float
    ) -> str:
        """Queue `msg_type` with `body` for each of `cars`; returns the request id.

        Raises:
            ValueError: an unknown type or no car.
        """
        cars = sorted(set(cars))
        if msg_type not in TYPES:
            raise ValueError(f"unknown control {msg_type!r}: one of {', '.join(TYPES)}")
        if not cars:
            raise ValueError("no car to send it to")
        request = f"op-{secrets.token_hex(6)}"
        text = json.dumps(dict(body))
        self._db.execute("BEGIN IMMEDIATE")
        self._db.executemany(
            "INSERT INTO controls (request, car, type, body, created) VALUES (?, ?, ?, ?, ?)",
            [(request, car, msg_type, text, now) for car in cars],
        )
        self._db.execute("COMMIT")
        return request

    def unsent(self) -> list[ControlRow]:
        """Rows the dispatcher has not published yet, oldest first."""
        return self._rows("WHERE sent IS NULL ORDER BY created, request, car")

    def mark_sent(self, request: str, car: str, msg_id: str, now: float) -> None:
        """The signed message `msg_id` for this row went to the broker."""
        self._db.execute(
            "UPDATE controls SET msg_id = ?, sent = ? WHERE request = ? AND car = ?",
            (msg_id, now, request, car),
        )

    def acknowledge(self, car: str, msg_id: str, ok: bool, detail: str, now: float) -> bool:
        """Record `car`'s ``control_ack`` of `msg_id`; False when no row sent it that message."""
        cur = self._db.execute(
            "UPDATE controls SET acked = ?, ok = ?, detail = ? WHERE car = ? AND msg_id = ?",
            (now, ok, detail, car, msg_id),
        )
        return cur.rowcount > 0

    def rows(self, request: str) -> list[ControlRow]:
        """Every car's row of `request`, by car."""
        return self._rows("WHERE request = ? ORDER BY car", request)

    def known_cars(self) -> list[str]:
        """Every car the dispatcher saved a status of (its ``nodes`` table), by id."""
        try:
            return [str(r[0]) for r in self._db.execute("SELECT node FROM nodes ORDER BY node")]
        except sqlite3.OperationalError:
            return []  # a dispatcher never ran on this file

    def _rows(self, where: str, *params: object) -> list[ControlRow]:
        return [
            ControlRow(
                request,
                car,
                msg_type,
                json.loads(body),
                sent,
                None if ok is None else bool(ok),
                detail or "",
            )
            for request, car, msg_type, body, sent, ok, detail in self._db.execute(
                f"SELECT request, car, type, body, sent, ok, detail FROM controls {where}", params
            )
        ]
