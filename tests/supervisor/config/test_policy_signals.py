"""``[policy] required_signals``: VSS paths from the catalogue, hard-stop signals always in."""

from __future__ import annotations

import pytest

from supervisor.config.errors import ConfigError
from supervisor.config.load import parse_config
from supervisor.policy.config import DEFAULT_REQUIRED, HARD_STOP_REQUIRED, PolicyConfig
from supervisor.vehicle import vss


def _signals(paths: list[str]) -> str:
    return "[policy]\nrequired_signals = [\n" + "".join(f'    "{p}",\n' for p in paths) + "]\n"


def test_the_default_and_an_extended_list_are_accepted() -> None:
    assert parse_config(_signals(list(DEFAULT_REQUIRED))).policy == PolicyConfig()
    extended = [*DEFAULT_REQUIRED, vss.HOOD, vss.LOW_VOLTAGE_STATE]
    assert parse_config(_signals(extended)).policy.required_signals == tuple(extended)
    # The soft-stop signal (charge) may be left out; the budget then reads it where mapped.
    assert parse_config(_signals(list(HARD_STOP_REQUIRED))).policy.required_signals == (
        HARD_STOP_REQUIRED
    )


def test_an_empty_list_is_refused_naming_the_missing_signals() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("[policy]\nrequired_signals = []\n", "p.toml")
    assert str(info.value) == (
        "p.toml:2: [policy] policy.required_signals: must list every hard-stop signal; "
        f"missing: {', '.join(HARD_STOP_REQUIRED)}"
    )


def test_a_typo_is_refused_with_the_closest_path() -> None:
    paths = [
        p.replace("DriverSide", "Driverside") if p == vss.DRIVER_SEAT else p
        for p in DEFAULT_REQUIRED
    ]
    with pytest.raises(ConfigError) as info:
        parse_config(_signals(paths), "p.toml")
    typo, missing = info.value.problems
    assert typo.key == missing.key == "policy.required_signals"
    assert typo.line == 2
    assert typo.detail == (
        "Vehicle.Cabin.Seat.Row1.Driverside.OccupancyStatus is not a VSS 6.0 signal parkmesh "
        f"knows (did you mean {vss.DRIVER_SEAT}?)"
    )
    assert missing.detail == f"must list every hard-stop signal; missing: {vss.DRIVER_SEAT}"


@pytest.mark.parametrize("left_out", HARD_STOP_REQUIRED)
def test_leaving_out_any_hard_stop_signal_is_refused(left_out: str) -> None:
    paths = [p for p in DEFAULT_REQUIRED if p != left_out]
    with pytest.raises(ConfigError, match=f"missing: {left_out}$"):
        parse_config(_signals(paths))


def test_a_path_outside_the_catalogue_is_refused() -> None:
    with pytest.raises(
        ConfigError, match=r"Vehicle\.Cabin\.Sunroof\.Position is not a VSS 6.0 signal"
    ):
        parse_config(_signals([*DEFAULT_REQUIRED, "Vehicle.Cabin.Sunroof.Position"]))
