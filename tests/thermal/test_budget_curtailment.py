"""Curtailment events: the OpenADR-style request form, randomised starts, caps."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta

import pytest

from thermal.curtailment import CurtailmentEvent, next_boundary, prune

NOW = datetime(2026, 11, 26, 21, 0)


def test_request_with_level_and_delay() -> None:
    e = CurtailmentEvent.from_json(
        {"level": 2, "duration_s": 3600, "start_in_s": 30, "id": "dr-7"}, NOW
    )
    assert e.start == NOW + timedelta(seconds=30) and e.level == 2 and e.event_id == "dr-7"
    assert e.cap_w(1000, 150, (1.0, 0.5, 0.25, 0.0)) == 250.0
    assert e.describe() == "curtailment dr-7 (level 2) until 22:00:30"


def test_import_limit_counts_the_host_baseline() -> None:
    e = CurtailmentEvent.from_json({"import_limit_kw": 0.5, "duration_s": 60}, NOW)
    assert e.cap_w(1000, 150, (1.0, 0.5, 0.25, 0.0)) == 350.0
    assert CurtailmentEvent(NOW, 60, import_limit_kw=0.1).cap_w(1000, 150, (1, 1, 1, 1)) == 0.0


def test_openadr_now_and_infinite() -> None:
    e = CurtailmentEvent.from_json({"level": 3, "start": "0001-01-01", "duration_s": None}, NOW)
    assert e.start == NOW and math.isinf(e.duration_s)
    assert e.active(NOW + timedelta(days=400))
    assert next_boundary([e], NOW + timedelta(seconds=1)) is None


def test_randomized_start_stays_within_the_band_and_keeps_the_duration() -> None:
    base = CurtailmentEvent(NOW, 600, level=1, randomize_s=300)
    rng = random.Random(4)
    shifts = [base.randomized(rng).shift_s for _ in range(200)]
    assert all(-300 <= s <= 300 for s in shifts)
    assert min(shifts) < -200 and max(shifts) > 200  # spread over the band, both ways
    e = base.randomized(random.Random(1))
    assert e.effective_end - e.effective_start == timedelta(seconds=600)


@pytest.mark.parametrize(
    ("request_", "match"),
    [
        ({"duration_s": 60}, "exactly one of level and import_limit_kw"),
        ({"level": 1, "import_limit_kw": 2, "duration_s": 60}, "exactly one"),
        ({"level": 4, "duration_s": 60}, "level must be 0, 1, 2 or 3"),
        ({"level": 1.5, "duration_s": 60}, "level must be 0, 1, 2 or 3"),
        ({"level": 1, "duration_s": 0}, "duration_s must be more than 0"),
        ({"level": 1, "duration_s": "long"}, "duration_s must be a number"),
        ({"import_limit_kw": -1, "duration_s": 60}, "import_limit_kw must be 0 or more"),
        ({"level": 1, "duration_s": 60, "randomize_s": -5}, "randomize_s must be 0 or more"),
        ({"level": 1, "duration_s": 60, "randomize_s": 1e12}, "randomize_s .* at most"),
        ({"level": 1, "duration_s": 1e12}, "duration_s must be at most"),
        ({"level": 1, "duration_s": 60, "start_in_s": 1e15}, "start_in_s must be within a year"),
        (
            {"level": 1, "duration_s": 60, "start": "9999-12-31T00:00:00"},
            "start must be a real date",
        ),
        ({"level": 1, "duration_s": 60, "start": "tomorrow"}, "start must be an ISO 8601"),
        ({"level": 1, "duration_s": 60, "colour": "red"}, "unknown key 'colour'"),
        ([1, 2], "must be an object"),
        ({"level": "2", "duration_s": 60}, "level must be a number or null, not '2'"),
        ({"level": 1, "duration_s": 60, "start": [2026]}, "start must be a string or null"),
        ({"level": 1, "duration_s": 60, "id": True}, "id must be an integer or a string or null"),
        (
            {"level": 1, "duration_s": 60, "k" * 10_000: 1},
            r"unknown key 'k+\.\.\.\[cut, 10000 chars in all\] \(known: duration_s, id",
        ),
    ],
)
def test_bad_requests_are_refused_naming_the_key(request_: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        CurtailmentEvent.from_json(request_, NOW)


def test_prune_and_boundaries() -> None:
    a = CurtailmentEvent(NOW, 60, level=1)
    b = CurtailmentEvent(NOW + timedelta(minutes=5), 60, level=2)
    assert prune([a, b], NOW + timedelta(seconds=60)) == (b,)
    assert next_boundary([a, b], NOW) == NOW + timedelta(seconds=60)
    assert next_boundary([a, b], NOW + timedelta(seconds=61)) == b.start
