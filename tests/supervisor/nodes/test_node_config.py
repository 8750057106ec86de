"""``[node]``: the kind is chosen in the file and checked per kind, with file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor.config.errors import ConfigError
from supervisor.config.load import load_config, parse_config
from supervisor.nodes.adapter import adapter_for
from supervisor.policy.rules import CarRules


def test_the_default_node_is_the_car() -> None:
    config = parse_config("")
    assert config.node.kind == "car"
    adapter = adapter_for(config.node)
    assert adapter.title == "car"
    assert isinstance(adapter.rules(config.policy), CarRules)


def test_a_home_battery_without_a_modbus_host_names_file_line_and_key(tmp_path: Path) -> None:
    file = tmp_path / "parkmesh.toml"
    file.write_text('[daemon]\nlog_level = "info"\n\n[node]\nkind = "home-battery"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(file)
    text = str(caught.value)
    assert f"{file}:4" in text, text
    assert "node.home_battery.host" in text
    assert "Modbus TCP host" in text


def test_a_kind_parkmesh_does_not_know_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "parkmesh.toml"
    file.write_text('[node]\nkind = "boat"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(file)
    assert f"{file}:2" in str(caught.value) and "node.kind" in str(caught.value)


def test_each_kind_builds_its_adapter() -> None:
    battery = parse_config('[node]\nkind = "home-battery"\n[node.home_battery]\nhost = "inv"\n')
    robot = parse_config('[node]\nkind = "robot"\n')
    assert adapter_for(battery.node).title == "home battery"
    assert adapter_for(robot.node).title == "robot"
    assert adapter_for(robot.node).rules(robot.policy).source_word == "robot"
