"""``parkmesh prefs``: values an owner can read (and type back), the stored preferences when
the daemon is down, and help examples that are accepted."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor.cli import main
from supervisor.cli.output import EX_UNREACHABLE
from supervisor.cli.prefs import EXAMPLES, readable
from thermal.preferences import PREFERENCE_NAMES, OwnerPreferences, set_preference
from thermal.prefstore import PreferenceStore


def test_every_preference_has_an_example_that_is_accepted_and_reads_back_the_same() -> None:
    assert set(EXAMPLES) == set(PREFERENCE_NAMES)
    for name, example in EXAMPLES.items():
        prefs = set_preference(OwnerPreferences(), name, example)
        shown = readable(name, prefs.to_json()[name])
        # What `get` prints, typed back into `set`, is the same preference.
        assert set_preference(OwnerPreferences(), name, shown.rstrip(" %h")) == prefs, shown


def test_values_read_as_words_not_python() -> None:
    prefs = OwnerPreferences().to_json()
    assert readable("charge_floor_percent", prefs["charge_floor_percent"]) == "50 %"
    assert readable("allow_compute_on_battery", False) == "no"
    assert readable("nightly_compute_hours", None) == "no cap"
    assert readable("departures", []) == "none"
    week = set_preference(OwnerPreferences(), "departures", "mon-fri 07:30 80, sat,sun 09:00 70")
    text = readable("departures", week.to_json()["departures"])
    assert text == "mon-fri 07:30 80, sat,sun 09:00 70"
    daily = set_preference(OwnerPreferences(), "departures", "daily 06:45 90")
    assert readable("departures", daily.to_json()["departures"]) == "daily 06:45 90"
    assert "[" not in text and "{" not in text and "'" not in text


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "parkmesh.toml"
    config.write_text(f'[daemon]\nstate_dir = "{tmp_path / "state"}"\n')
    return config


def test_with_the_daemon_down_get_shows_the_stored_preferences_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PARKMESH_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    config = _config(tmp_path)
    # Nothing stored yet: nothing to show, and the one status for "not reachable".
    assert main(["prefs", "get", "--config", str(config)]) == EX_UNREACHABLE
    capsys.readouterr()
    store = PreferenceStore(tmp_path / "state")
    store.save(set_preference(OwnerPreferences(), "charge_floor_percent", "65"))
    assert main(["prefs", "get", "--config", str(config)]) == 0
    out, err = capsys.readouterr()
    assert "not reachable" in err and str(store.path) in err
    assert "65 %" in out and "charge_floor_percent" in out
    assert main(["prefs", "get", "charge_floor_percent", "--json", "--config", str(config)]) == 0
    assert capsys.readouterr().out.strip().replace(" ", "").replace("\n", "") == (
        '{"charge_floor_percent":65.0}'
    )


def test_a_broken_stored_file_is_said_with_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PARKMESH_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    config = _config(tmp_path)
    store = PreferenceStore(tmp_path / "state")
    store.path.parent.mkdir(parents=True)
    store.path.write_text('{"charge_floor_percent": "lots"}')
    assert main(["prefs", "get", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "charge_floor_percent" in err and str(store.path) in err and "Traceback" not in err
