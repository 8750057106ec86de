"""Owner preferences: validation naming the field, text forms, the atomic store."""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime, time
from pathlib import Path
from typing import Any

import pytest

from thermal.preferences import (
    Departure,
    OwnerPreferences,
    PreferenceError,
    next_departure,
    parse_departures,
    set_preference,
)
from thermal.prefstore import PreferenceStore


@pytest.mark.parametrize(
    ("kwargs", "field", "text"),
    [
        ({"charge_floor_percent": 15.0}, "charge_floor_percent", "between 20 and 90"),
        ({"charge_floor_percent": 95.0}, "charge_floor_percent", "between 20 and 90"),
        ({"charge_floor_percent": float("nan")}, "charge_floor_percent", "number"),
        ({"nightly_compute_hours": 25.0}, "nightly_compute_hours", "between 0 and 24"),
        ({"nightly_compute_hours": -1.0}, "nightly_compute_hours", "between 0 and 24"),
        ({"allow_compute_on_battery": "yes"}, "allow_compute_on_battery", "true or false"),
        ({"metered_links_allowed": 1}, "metered_links_allowed", "true or false"),
    ],
)
def test_bad_preferences_are_refused_naming_the_field(
    kwargs: dict[str, Any], field: str, text: str
) -> None:
    with pytest.raises(PreferenceError, match=text) as info:
        OwnerPreferences(**kwargs)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("name", "value", "text"),
    [
        ("charge_floor_percent", "ten", "must be a number, not 'ten'"),
        ("charge_floor_percent", "10", "between 20 and 90"),
        ("allow_compute_on_battery", "maybe", "true or false"),
        ("nightly_compute_hours", "inf", "finite"),
        ("departures", "mon 07:30", "'DAYS HH:MM TARGET_PERCENT'"),
        ("departures", "mon 7:3 80", "HH:MM"),
        ("departures", "funday 07:30 80", "unknown day 'funday'"),
        ("departures", "mon 07:30 120", "between 20 and 100"),
        ("colour", "red", "unknown preference"),
    ],
)
def test_set_preference_refuses_bad_text_naming_the_field(name: str, value: str, text: str) -> None:
    with pytest.raises(PreferenceError, match=text) as info:
        set_preference(OwnerPreferences(), name, value)
    assert info.value.field == name


def test_set_preference_from_text() -> None:
    p = OwnerPreferences()
    p = set_preference(p, "charge_floor_percent", "55%")
    p = set_preference(p, "allow_compute_on_battery", "yes")
    p = set_preference(p, "nightly_compute_hours", "6")
    p = set_preference(p, "metered_links_allowed", "on")
    p = set_preference(p, "departures", "mon-fri 07:30 80, sat,sun 09:15 70")
    assert p.charge_floor_percent == 55.0
    assert p.allow_compute_on_battery and p.metered_links_allowed
    assert p.nightly_compute_hours == 6.0
    assert p.departures == (
        Departure((0, 1, 2, 3, 4), time(7, 30), 80.0),
        Departure((5, 6), time(9, 15), 70.0),
    )
    assert set_preference(p, "nightly_compute_hours", "none").nightly_compute_hours is None
    assert set_preference(p, "departures", "none").departures == ()


def test_departure_day_forms() -> None:
    assert parse_departures("weekends 09:00 70")[0].days == (5, 6)
    assert parse_departures("fri-mon 06:00 90")[0].days == (0, 4, 5, 6)
    assert parse_departures("daily 06:00 90; tue 08:00 60")[1].days == (1,)


def test_next_departure_skips_days_off_and_past_times() -> None:
    prefs = set_preference(OwnerPreferences(), "departures", "mon-fri 07:30 80, sat 10:00 60")
    friday_evening = datetime(2026, 11, 27, 19, 0)
    when, dep = next_departure(prefs, friday_evening) or (None, None)
    assert when == datetime(2026, 11, 28, 10, 0) and dep is not None
    assert dep.target_percent == 60
    assert next_departure(OwnerPreferences(departures=()), friday_evening) is None


def test_store_round_trip_and_defaults(tmp_path: Path) -> None:
    store = PreferenceStore(tmp_path / "state")
    assert store.load() == OwnerPreferences()  # no file yet: defaults
    prefs = set_preference(OwnerPreferences(), "departures", "tue,thu 06:45 85")
    prefs = set_preference(prefs, "nightly_compute_hours", "4.5")
    store.save(prefs)
    assert store.load() == prefs
    assert json.loads(store.path.read_text())["departures"] == [
        {"days": ["tue", "thu"], "time": "06:45", "target_percent": 85.0}
    ]
    assert [p.name for p in store.path.parent.iterdir()] == ["preferences.json"]  # no temp left


def test_store_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = PreferenceStore(tmp_path)
    store.save(OwnerPreferences(charge_floor_percent=60.0))

    def power_cut(src: str, dst: str) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(os, "replace", power_cut)
    with pytest.raises(OSError, match="power cut"):
        store.save(OwnerPreferences(charge_floor_percent=70.0))
    assert store.load().charge_floor_percent == 60.0
    assert [p.name for p in tmp_path.iterdir()] == ["preferences.json"]


async def test_persist_writes_durably_in_a_worker_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = PreferenceStore(tmp_path / "state")
    loop_thread = threading.get_ident()
    fsyncs: list[int] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:  # the real fsync, and on which thread it ran
        fsyncs.append(threading.get_ident())
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    prefs = OwnerPreferences(charge_floor_percent=61.0)
    await store.persist(prefs)
    # Durable when persist returns: both fsyncs (file, directory) done, off the loop's thread.
    assert len(fsyncs) == 2
    assert loop_thread not in fsyncs
    assert PreferenceStore(tmp_path / "state").load() == prefs


def test_saving_what_is_already_on_disk_does_not_write_again(tmp_path: Path) -> None:
    store = PreferenceStore(tmp_path)
    prefs = OwnerPreferences(charge_floor_percent=65.0)
    store.save(prefs)
    before = os.stat(store.path)
    store.save(OwnerPreferences(charge_floor_percent=65.0))  # equal: already durable
    assert os.stat(store.path).st_ino == before.st_ino  # not replaced
    store.save(OwnerPreferences(charge_floor_percent=66.0))
    assert os.stat(store.path).st_ino != before.st_ino
    assert store.load().charge_floor_percent == 66.0
    # What was loaded counts as on disk, too.
    reader = PreferenceStore(tmp_path)
    loaded = reader.load()
    inode = os.stat(reader.path).st_ino
    reader.save(loaded)
    assert os.stat(reader.path).st_ino == inode


@pytest.mark.parametrize(
    ("text", "field", "match"),
    [
        ("{not json", "preferences", "not valid JSON"),
        ('{"charge_floor_percent": 10}', "charge_floor_percent", "between 20 and 90"),
        ('{"floor": 50}', "floor", "unknown preference"),
        (
            '{"departures": [{"days": ["mon"], "time": "7h", "target_percent": 80}]}',
            "departures",
            "HH:MM",
        ),
        ("[]", "preferences", "must be an object"),
        (
            '{"departures": [{"days": ["mon"], "time": 7, "target_percent": 80}]}',
            "departures",
            r"\[0\]\.time: must be a string, not 7",
        ),
        ('{"departures": [{"days": ["mon"], "time": "07:30"}]}', "departures", "is required"),
        ('{"metered_links_allowed": 1}', "metered_links_allowed", "true or false, not 1"),
        ('{"nightly_compute_hours": "6"}', "nightly_compute_hours", "a number or null, not '6'"),
    ],
)
def test_bad_store_file_names_file_and_field(
    tmp_path: Path, text: str, field: str, match: str
) -> None:
    store = PreferenceStore(tmp_path)
    store.path.write_text(text)
    with pytest.raises(PreferenceError, match=match) as info:
        store.load()
    assert info.value.field == field
    assert str(store.path) in str(info.value)
