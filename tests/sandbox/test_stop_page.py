"""The stop page's acknowledgement log: the first acknowledgement of each request is kept."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from sandbox.stop_page import ACK_LOG_SLOTS, PAGE_SIZE, StopLevel, StopPage, StopReason


@pytest.fixture
def page() -> Iterator[StopPage]:
    stop_page = StopPage.create("ack-log")
    yield stop_page
    stop_page.close()


def test_the_first_acknowledgement_of_a_request_stays_in_the_log(page: StopPage) -> None:
    generation = page.request_stop(StopLevel.HARD, StopReason.VEHICLE)
    page.acknowledge(generation, 1_000)  # the pool, for an idle worker
    page.acknowledge(generation, 2_000)  # the guardian's confirmer, later
    assert page.snapshot().ack_ns == 2_000  # the latest
    assert page.acknowledgements() == [(generation, 1_000)]  # the first
    # A second writer's request right after: its own first acknowledgement is logged too,
    # and the first request's stays (it is when the worker was idle for that one).
    second = page.request_stop(StopLevel.HARD, StopReason.VEHICLE)
    page.acknowledge(second, 3_000)
    assert page.acknowledgements() == [(generation, 1_000), (second, 3_000)]


def test_the_log_keeps_the_last_slots_generations(page: StopPage) -> None:
    for i in range(1, 3 * ACK_LOG_SLOTS + 1):
        page.acknowledge(page.request_stop(StopLevel.HARD, StopReason.TEST), i * 10)
    logged = page.acknowledgements()
    assert [g for g, _ in logged] == list(range(2 * ACK_LOG_SLOTS + 1, 3 * ACK_LOG_SLOTS + 1))
    assert all(ns == g * 10 for g, ns in logged)
    assert os.sysconf("SC_PAGE_SIZE") >= PAGE_SIZE  # the layout fits the mapped page


def test_another_process_acknowledging_shows_in_the_log(page: StopPage) -> None:
    generation = page.request_stop(StopLevel.HARD, StopReason.VEHICLE)
    code = (
        "import sys; from sandbox.stop_page import StopPage; "
        "p = StopPage.attach(int(sys.argv[1])); p.acknowledge(p.generation(), 42)"
    )
    subprocess.run([sys.executable, "-c", code, str(page.fd)], pass_fds=(page.fd,), check=True)
    assert page.acknowledgements() == [(generation, 42)]
    assert page.snapshot().acknowledged


def test_a_late_acknowledgement_does_not_replace_a_newer_one_in_its_slot(page: StopPage) -> None:
    # A writer frozen between reading the generation and acknowledging it, continued many
    # requests later, acknowledges an old generation that shares its slot with a new one.
    old = page.request_stop(StopLevel.HARD, StopReason.VEHICLE)
    for _ in range(ACK_LOG_SLOTS):
        newer = page.request_stop(StopLevel.HARD, StopReason.VEHICLE)
    assert newer % ACK_LOG_SLOTS == old % ACK_LOG_SLOTS
    page.acknowledge(newer, 5_000)
    page.acknowledge(old, 9_000)
    assert page.acknowledgements() == [(newer, 5_000)]
