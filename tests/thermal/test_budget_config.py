"""The ``[budget]`` section: parsed through the daemon's config loader, bad values named."""

from __future__ import annotations

import pytest

from supervisor.config.errors import ConfigError
from supervisor.config.load import parse_config
from thermal.config import BudgetConfig


def test_budget_section_parses_with_nested_limits() -> None:
    cfg = parse_config(
        "[budget]\nnominal_compute_w = 800\nrequired_sensors = ['battery']\n"
        "[budget.gpu]\nwarn_c = 70\n"
    ).budget
    assert cfg.nominal_compute_w == 800.0 and cfg.required_sensors == ("battery",)
    assert (cfg.gpu.warn_c, cfg.gpu.stop_c) == (70.0, 90.0)
    assert parse_config("").budget == BudgetConfig()


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("[budget]\nnominal_compute_w = 0\n", "budget.nominal_compute_w", "at least 1"),
        ("[budget]\ndevice_temperature = 'lava'\n", "budget.device_temperature", "must be one of"),
        ("[budget.battery]\nhysteresis_c = -1\n", "budget.battery.hysteresis_c", "at least 0"),
        ("[budget]\nwatts = 3\n", "budget.watts", "unknown key"),
        ("[budget.gpu]\nwarn_c = 95\n", "budget.gpu.warn_c", r"must be below stop_c \(90\)"),
        (
            "[budget]\nrequired_sensors = ['tyres']\n",
            "budget.required_sensors",
            "unknown sensor 'tyres'",
        ),
        (
            "[budget]\ncurtail_level_fractions = [1.0, 0.5, 0.75, 0.0]\n",
            "budget.curtail_level_fractions",
            "higher level may not allow more",
        ),
    ],
)
def test_bad_budget_values_are_named(text: str, key: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_config(text, "parkmesh.toml")
    assert info.value.key == key


def test_a_partial_sensor_table_keeps_that_sensors_defaults() -> None:
    battery = parse_config("[budget.battery]\nwarn_c = 39\n").budget.battery
    assert (battery.warn_c, battery.stop_c, battery.hysteresis_c) == (39.0, 45.0, 2.0)
    assert parse_config("[budget.cabin]\n").budget.cabin == BudgetConfig().cabin
