"""Configuration parsing: defaults, the shipped default file, and errors naming file/line/key."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import pytest

from supervisor.config.errors import ConfigError
from supervisor.config.load import load_config, parse_config
from supervisor.config.schema import Config
from supervisor.config.sections import field_docs

REPO = Path(__file__).resolve().parents[3]


def test_empty_file_gives_the_defaults() -> None:
    assert parse_config("") == Config()
    assert Config().policy.settle_s == 120.0
    assert Config().policy.soc_floor_percent == 50.0


def _documented_keys(text: str) -> dict[str, set[str]]:
    """Section -> keys written as ``# key = ...`` under each ``[section]`` header."""
    keys: dict[str, set[str]] = {}
    section = ""
    for line in text.splitlines():
        header = re.match(r"^\[([a-z_.]+)\]\s*$", line)
        if header:
            section = header.group(1)
            keys.setdefault(section, set())
        key = re.match(r"^# ([a-z_0-9]+) = ", line)
        if key and section:
            keys[section].add(key.group(1))
    return keys


def _schema_keys(cls: type, prefix: str = "") -> dict[str, set[str]]:
    """Section -> leaf keys of the configuration dataclasses."""
    keys: dict[str, set[str]] = {}
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        name = f"{prefix}.{field.name}" if prefix else field.name
        if dataclasses.is_dataclass(hints[field.name]):
            keys.update(_schema_keys(hints[field.name], name))
        else:
            keys.setdefault(prefix, set()).add(field.name)
    return keys


def test_the_shipped_default_file_is_valid_and_documents_every_key() -> None:
    text = (REPO / "packaging" / "parkmesh.toml").read_text()
    assert parse_config(text) == Config()
    documented = _documented_keys(text)
    for section, keys in _schema_keys(Config).items():
        missing = keys - documented.get(section, set())
        assert not missing, f"[{section}] does not document {sorted(missing)}"


@pytest.mark.parametrize(
    ("text", "line", "key", "message"),
    [
        ("[policy]\nsettle_s = -1\n", 2, "policy.settle_s", "must be at least 0.0, not -1.0"),
        (
            "[policy]\n\nsoc_floor_percent = 95\n",
            3,
            "policy.soc_floor_percent",
            "must be at most 90.0, not 95.0",
        ),
        (
            '[vehicle]\nsource = "cann"\n',
            2,
            "vehicle.source",
            "must be one of 'can', 'dbus', 'scenario', 'replay', not 'cann'",
        ),
        (
            "[vehicle.can]\nchannel = 3\n",
            2,
            "vehicle.can.channel",
            "must be a string, not the number 3",
        ),
        ("[daemon]\nlog_level = true\n", 2, "daemon.log_level", "must be one of"),
        ("[polcy]\nsettle_s = 1\n", 1, "polcy", "unknown section (did you mean 'policy'?"),
        ("[policy]\nsettle = 1\n", 2, "policy.settle", "unknown key (did you mean 'settle_s'?"),
        ("[budget]\ngpu.warn_c = 95\n", 2, "budget.gpu.warn_c", "must be below stop_c (90)"),
        (
            "[budget.gpu]\nstop_c = 70\n",
            1,
            "budget.gpu.warn_c",
            "must be below stop_c (70), not 80",
        ),
        ("[ledger]\ncurrency = 'usd'\n", 2, "ledger.currency", "capitals: 'USD', not 'usd'"),
        ("policy = 3\n", 1, "policy", "must be a table, not the number 3"),
    ],
)
def test_errors_name_the_file_line_and_key(text: str, line: int, key: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "/etc/parkmesh/parkmesh.toml")
    error = info.value
    assert (error.line, error.key) == (line, key)
    assert message in error.detail
    section = key.rpartition(".")[0]
    table = f"[{section}] " if section else ""
    assert str(error) == f"/etc/parkmesh/parkmesh.toml:{line}: {table}{key}: {error.detail}"


def test_invalid_toml_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^x\.toml:2: not valid TOML") as info:
        parse_config("[policy]\n[policy\n", "x.toml")
    assert info.value.line == 2
    with pytest.raises(ConfigError, match="cannot read: No such file or directory"):
        load_config(tmp_path / "missing.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(binary)


def test_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "parkmesh.toml"
    path.write_text('[vehicle.can]\ndbc = "cars/my.dbc"\n')
    assert load_config(path).vehicle.can.dbc == tmp_path / "cars" / "my.dbc"


def test_a_cross_field_problem_names_the_file_the_line_of_its_key_and_the_dotted_key(
    tmp_path: Path,
) -> None:
    path = tmp_path / "parkmesh.toml"
    lines = ["[daemon]", 'log_level = "info"', "", "[budget]", "capacity_kwh = 70", "[budget.gpu]"]
    path.write_text("\n".join([*lines, "warn_c = 95", "stop_c = 90", ""]))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert (info.value.file, info.value.line, info.value.key) == (path, 7, "budget.gpu.warn_c")
    assert str(info.value) == (
        f"{path}:7: [budget.gpu] budget.gpu.warn_c: must be below stop_c (90), not 95"
    )


def test_every_key_of_every_section_declares_its_documentation() -> None:
    def undocumented(cls: type, prefix: str) -> list[str]:
        hints = typing.get_type_hints(cls)
        missing = []
        for name, doc in field_docs(cls).items():
            key = f"{prefix}.{name}" if prefix else name
            if not doc:
                missing.append(key)
            if dataclasses.is_dataclass(hints[name]):
                missing += undocumented(hints[name], key)
        return missing

    assert undocumented(Config, "") == []
