"""The daemon's log ring and its stderr handler keep every record bounded: 16 records of 10 MB
leave the ring's memory and the written log small, tracebacks included, and a record's control
characters cannot forge another line."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisor.daemon.log_ring import DEFAULT_MAX_CHARS, LogRing
from supervisor.daemon.logs import MAX_MESSAGE_CHARS, MAX_RECORD_CHARS, stderr_handler

MB = 2**20


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    log = logging.getLogger("parkmesh.test.bounds")
    log.propagate = False
    log.setLevel(logging.INFO)
    yield log
    log.handlers.clear()
    log.propagate = True


def _huge(i: int) -> str:
    return f"sender-{i}-" + chr(ord("a") + i) * (10 * MB)


def test_16_records_of_10_mb_leave_the_ring_and_the_log_small(
    logger: logging.Logger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    ring = LogRing()
    out = (tmp_path / "daemon.log").open("w", encoding="utf-8")
    monkeypatch.setattr(sys, "stderr", out)
    logger.addHandler(ring)
    logger.addHandler(stderr_handler())
    for i in range(16):
        if i % 2:
            logger.warning("unsigned message from %s refused", _huge(i))
        else:
            logger.info(_huge(i))  # a message with no arguments
    out.close()
    written = (tmp_path / "daemon.log").stat().st_size
    assert written <= 16 * (MAX_RECORD_CHARS + 100), written
    assert ring.serial == 16 and len(ring.tail(100)) == 16
    assert ring.chars() <= DEFAULT_MAX_CHARS
    # 160 MB were logged; the ring holds 16 lines of about MAX_MESSAGE_CHARS (ASCII here).
    assert ring.memory_bytes() < 16 * (MAX_MESSAGE_CHARS + 400) + 10_000
    lines = (tmp_path / "daemon.log").read_text().splitlines()
    assert len(lines) == 16
    assert "unsigned message from sender-1-bbbb" in lines[1]
    assert lines[1].endswith(" refused") or "[cut, " in lines[1]
    assert all("chars in all]" in line for line in lines)


def test_the_ring_keeps_a_bounded_total_dropping_the_oldest(logger: logging.Logger):
    ring = LogRing(capacity=1000, max_chars=50_000)
    logger.addHandler(ring)
    for i in range(200):
        logger.info("%d %s", i, "w" * 5000)
    assert ring.serial == 200
    assert ring.chars() <= 50_000
    kept = ring.tail(1000)
    assert kept[-1].split(" ", 3)[3].startswith("199 ") and len(kept) < 200


def test_tracebacks_are_bounded_and_keep_their_lines(logger: logging.Logger):
    ring = LogRing()
    logger.addHandler(ring)
    try:
        raise ValueError("bad value " + "q" * (10 * MB))
    except ValueError:
        logger.exception("call failed")
    (line,) = ring.tail(1)
    assert len(line) <= MAX_RECORD_CHARS + 100
    assert "Traceback (most recent call last):\n" in line and "[cut, " in line


def test_control_characters_cannot_forge_a_line(logger: logging.Logger):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(stderr_handler().formatter)
    logger.addHandler(handler)
    logger.info("sender %s", "x\n<3>parkmesh: door closed, all clear\x1b[0m")
    text = stream.getvalue()
    assert text.count("\n") == 1
    assert "x\\n<3>parkmesh: door closed, all clear\\x1b[0m" in text


def test_other_handlers_see_the_record_unchanged(logger: logging.Logger):
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    logger.addHandler(LogRing())
    logger.addHandler(Keep())
    value = "v" * (3 * MB)
    logger.info("value %s", value)
    assert seen[0].args == (value,) and seen[0].getMessage() == f"value {value}"


def test_journald_format_is_bounded(logger: logging.Logger, monkeypatch: pytest.MonkeyPatch):
    stream = io.StringIO()
    monkeypatch.setenv("JOURNAL_STREAM", "8:1234")
    monkeypatch.setattr(sys, "stderr", stream)
    logger.addHandler(stderr_handler())
    logger.error("%s", "j" * (10 * MB))
    text = stream.getvalue()
    assert text.startswith("<3>parkmesh.test.bounds: jjj") and len(text) <= MAX_RECORD_CHARS + 100
