"""The parser's primitives: error text and place, every problem at once, checks across fields."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import pytest
from msgspec import Meta

from supervisor.config.check import place
from supervisor.config.errors import ConfigError, ConfigErrors, combine
from supervisor.config.sections import SectionParser, field_docs

FILE = "/etc/parkmesh/parkmesh.toml"


@dataclass(frozen=True, slots=True)
class Window:
    low: Annotated[float, Meta(ge=0.0, description="lower bound")] = 1.0
    high: Annotated[float, Meta(le=100.0, description="upper bound")] = 2.0

    def config_problems(self) -> Iterator[tuple[str, str]]:
        if not self.low < self.high:
            yield "low", f"must be below high ({self.high:g}), not {self.low:g}"


@dataclass(frozen=True, slots=True)
class Outer:
    window: Annotated[Window, Meta(description="a nested table")] = field(default_factory=Window)
    shares: Annotated[tuple[float, ...], Meta(description="a list of numbers")] = (0.5,)
    count: Annotated[int, Meta(ge=0, description="an integer")] = 1


def _parse(text_lines: list[str], table: dict[str, object]) -> Outer:
    return SectionParser(FILE, "\n".join(text_lines)).parse(Outer, table, "outer")


def test_the_error_text_names_file_line_table_and_key() -> None:
    error = ConfigError(
        "must be x", file=FILE, line=4, key="budget.gpu.warn_c", section="budget.gpu"
    )
    assert str(error) == f"{FILE}:4: [budget.gpu] budget.gpu.warn_c: must be x"
    assert error.problems == (error,)
    assert error.as_dict()["problem"] == "must be x" and error.as_dict()["line"] == 4
    # Other files (mappings, scenarios) and keys without a table keep the shorter form.
    assert str(ConfigError("bad", file="m.toml", line=2, key="signal[0].x")) == (
        "m.toml:2: signal[0].x: bad"
    )
    assert str(ConfigError("bad", key="daemon.runtime_dir")) == "daemon.runtime_dir: bad"
    assert str(ConfigError("bad", file=FILE)) == f"{FILE}: bad"


def test_several_problems_are_one_error_with_one_line_each() -> None:
    one = ConfigError("a", file=FILE, line=1, key="x.a", section="x")
    two = ConfigError("b", file=FILE, line=2, key="x.b", section="x")
    both = combine([one, two])
    assert isinstance(both, ConfigErrors)
    assert both.problems == (one, two)
    assert (both.line, both.key) == (1, "x.a")
    assert str(both).splitlines() == [str(one), str(two)]
    assert combine([one]) is one
    # Nested collections flatten.
    assert ConfigErrors([both, one]).problems == (one, two, one)
    with pytest.raises(ValueError, match="at least one"):
        ConfigErrors([])


def test_a_cross_field_problem_is_placed_at_its_key() -> None:
    lines = ["[outer.window]", "high = 5", "low = 7"]
    with pytest.raises(ConfigError) as info:
        _parse(lines, {"window": {"high": 5.0, "low": 7.0}})
    assert str(info.value) == (
        f"{FILE}:3: [outer.window] outer.window.low: must be below high (5), not 7"
    )


def test_a_cross_field_problem_of_a_key_left_at_its_default_points_at_the_table() -> None:
    with pytest.raises(ConfigError) as info:
        _parse(["[outer.window]", "high = 0.5"], {"window": {"high": 0.5}})
    assert (info.value.line, info.value.key) == (1, "outer.window.low")


def test_every_bad_field_is_reported_not_only_the_first() -> None:
    lines = [
        "[outer]",
        "count = -1",
        "shares = [nan, 2, inf]",
        "counts = 3",
        "[outer.window]",
        "high = 500",
    ]
    table = {
        "count": -1,
        "shares": [float("nan"), 2.0, float("inf")],
        "counts": 3,
        "window": {"high": 500.0},
    }
    with pytest.raises(ConfigErrors) as info:
        _parse(lines, table)
    found = [(p.line, p.key, p.detail) for p in info.value.problems]
    assert found == [
        (2, "outer.count", "must be at least 0, not -1"),
        (3, "outer.shares", "must be a finite number, not nan"),
        (3, "outer.shares", "must be a finite number, not inf"),
        (
            4,
            "outer.counts",
            "unknown key (did you mean 'count'? known keys: count, shares, window)",
        ),
        (6, "outer.window.high", "must be at most 100.0, not 500.0"),
    ]


@pytest.mark.parametrize("raw", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_numbers_are_refused(raw: float) -> None:
    with pytest.raises(ConfigError) as info:
        _parse(["[outer.window]", "low = x"], {"window": {"low": raw}})
    assert info.value.key == "outer.window.low"
    assert info.value.detail == f"must be a finite number, not {raw}"


def test_integers_stay_integers_and_numbers_become_floats() -> None:
    parsed = _parse([], {"count": 3, "window": {"low": 0, "high": 7}})
    assert parsed.count == 3 and isinstance(parsed.window.low, float)
    with pytest.raises(ConfigError, match=r"must be an integer, not the number 1\.5"):
        _parse([], {"count": 1.5})
    with pytest.raises(ConfigError, match="must be a number, not the boolean true"):
        _parse([], {"window": {"low": True}})


def test_place_puts_keyed_problems_of_later_checks_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "parkmesh.toml"
    path.write_text("[sandbox]\nmodels = ['x']\n")
    placed = place(ConfigError("model 'x' is not provisioned", key="sandbox.models"), path)
    assert str(placed) == f"{path}:2: [sandbox] sandbox.models: model 'x' is not provisioned"
    mapping = ConfigError("no signal", file="m.toml", line=3, key="signal[0]")
    assert place(mapping, path) is mapping
    both = place(combine([mapping, ConfigError("bad", key="sandbox.models")]), path)
    assert [p.file for p in both.problems] == [path, Path("m.toml")]


@dataclass(frozen=True, slots=True)
class Strict:
    shares: tuple[Annotated[float, Meta(gt=0.0, lt=1.0)], ...] = (0.5,)


@dataclass(frozen=True, slots=True)
class Unenforced:
    name: Annotated[str, Meta(pattern="^[a-z]+$", description="not enforced by the parser")] = "a"


def test_limits_are_read_from_the_msgspec_declarations_also_inside_lists() -> None:
    parser = SectionParser(FILE, "[strict]\nshares = [0.0, 0.5, 1.0]\n")
    with pytest.raises(ConfigErrors) as info:
        parser.parse(Strict, {"shares": [0.0, 0.5, 1.0]}, "strict")
    assert [(p.line, p.key, p.detail) for p in info.value.problems] == [
        (2, "strict.shares", "must be above 0.0, not 0.0"),
        (2, "strict.shares", "must be below 1.0, not 1.0"),
    ]


def test_a_constraint_the_parser_would_ignore_is_refused() -> None:
    with pytest.raises(TypeError, match="pattern"):
        SectionParser(FILE).parse(Unenforced, {}, "unenforced")


def test_field_docs_come_from_the_declarations() -> None:
    assert field_docs(Outer) == {
        "window": "a nested table",
        "shares": "a list of numbers",
        "count": "an integer",
    }
