"""The demo's log: errors on stderr beside the narration, and every line from INFO up in the
daemon's log ring, which ``parkmesh tui`` shows on its Log screen."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from supervisor.daemon.log_ring import LogRing
from supervisor.demo.run import narrated_logging


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_the_daemons_info_lines_reach_its_ring_and_only_errors_reach_stderr(
    restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    narrated_logging()
    ring = LogRing()
    logging.getLogger().addHandler(ring)  # as the daemon adds its own when it starts
    log = logging.getLogger("parkmesh")
    log.info("guardian 42 guards the workers")
    log.error("the guardian ended; workers stopped; restarting it")
    lines = ring.tail(10)
    assert len(lines) == 2
    assert "INFO parkmesh: guardian 42 guards the workers" in lines[0]
    assert "ERROR" in lines[1]
    err = capsys.readouterr().err
    assert "restarting it" in err and "guards the workers" not in err
