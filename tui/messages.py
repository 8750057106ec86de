"""Messages from the connection and action workers up to the app (facts, past tense)."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class DaemonConnected(Message):
    """The daemon answered; `props` holds every property."""

    def __init__(self, props: dict[str, Any]) -> None:
        super().__init__()
        self.props = props


class DaemonLost(Message):
    """The daemon or the bus went away; the worker reconnects."""

    def __init__(self, problem: str) -> None:
        super().__init__()
        self.problem = problem


class PropertiesChanged(Message):
    """Some properties changed (the others are as before)."""

    def __init__(self, changed: dict[str, Any]) -> None:
        super().__init__()
        self.changed = changed


class StopReported(Message):
    """The daemon confirmed a hard stop."""

    def __init__(self, reason: str, latency_ms: float) -> None:
        super().__init__()
        self.reason = reason
        self.latency_ms = latency_ms


class JobFinished(Message):
    """A job ended; the ledger view may change."""

    def __init__(self, job_id: str, outcome: str, credit: float) -> None:
        super().__init__()
        self.job_id = job_id
        self.outcome = outcome
        self.credit = credit


class LogLoaded(Message):
    """Recent log lines arrived."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__()
        self.lines = lines


class LedgerLoaded(Message):
    """The ledger view arrived (or an {"error": ...})."""

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__()
        self.data = data


class ActionFinished(Message):
    """An action (drain, resume, test stop, set floor) ended; `notice` says how."""

    def __init__(self, notice: str, *, ok: bool) -> None:
        super().__init__()
        self.notice = notice
        self.ok = ok
