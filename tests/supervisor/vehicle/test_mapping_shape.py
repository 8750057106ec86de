"""A mapping's tables are checked against their declared shape: every problem, file, line, key."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor.config.errors import ConfigError, ConfigErrors
from supervisor.vehicle.can_decoder import FrameDecoder
from supervisor.vehicle.config import DATA_DIR
from supervisor.vehicle.dbus_mapping import load_dbus_mapping
from tests.supervisor.vehicle.test_mapping_errors import GOOD_ENTRY, REFERENCE_DBC, write


def test_every_problem_of_an_entry_is_reported_at_its_line(tmp_path: Path) -> None:
    text = GOOD_ENTRY + 'scale = 2\nmax_age_s = -1\ntransform = 3\non_change = "yes"\n'
    path = write(tmp_path, GOOD_ENTRY + text)
    with pytest.raises(ConfigErrors) as info:
        FrameDecoder.load(REFERENCE_DBC, path)
    found = {(p.line, p.key): p.detail for p in info.value.problems}
    assert found == {
        (8, "signal[1].scale"): "unknown key (known keys: bus_name, default, interface, "
        "max_age_s, message, min_interval_s, object_path, on_change, path, property, signal, "
        "transform, values)",
        (8, "signal[1].max_age_s"): "must be above 0.0, not -1.0",
        (8, "signal[1].transform"): "must be a string, not the number 3",
        (8, "signal[1].on_change"): "must be true or false, not the string 'yes'",
    }
    assert str(info.value.problems[0]).startswith(f"{path}:8: signal[1].")


@pytest.mark.parametrize("age", ["nan", "inf"])
def test_a_max_age_that_is_not_finite_is_refused(tmp_path: Path, age: str) -> None:
    # A NaN age compares false with every reading's age: the signal would never go stale.
    with pytest.raises(ConfigError) as info:
        FrameDecoder.load(REFERENCE_DBC, write(tmp_path, GOOD_ENTRY + f"max_age_s = {age}\n"))
    assert (info.value.line, info.value.key) == (2, "signal[0].max_age_s")
    assert info.value.detail == f"must be a finite number, not {float(age)}"


def test_a_bad_default_is_named_at_its_own_key_in_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "[defaults]\nmax_age_s = 1.0\nmin_interval_s = -2\n" + GOOD_ENTRY)
    with pytest.raises(ConfigError) as info:
        FrameDecoder.load(REFERENCE_DBC, path)
    assert str(info.value) == f"{path}:3: defaults.min_interval_s: must be at least 0.0, not -2.0"


def test_the_gateway_table_is_declared_too(tmp_path: Path) -> None:
    good = (DATA_DIR / "dbus_gateway_mapping.toml").read_text()
    assert "poll_s = 0.5" in good
    path = write(tmp_path, good.replace("poll_s = 0.5", "poll_s = 0", 1))
    with pytest.raises(ConfigError) as info:
        load_dbus_mapping(path)
    assert info.value.key == "gateway.poll_s"
    assert str(info.value).startswith(f"{path}:{info.value.line}: gateway.poll_s: must be above")
