"""Every number in the configuration is finite or refused with its key (TOML has nan and inf).

A nan passes every limit (each comparison with nan is false): a nan settle time and floor once
admitted compute at 25 % charge, and nan speeds and TTLs crashed the daemon at start. The check
sits in the parser's number primitive, so it covers every section; this test walks every
numeric key the shipped file documents, so a key added later is covered without a new test.
"""

from __future__ import annotations

import pytest

from supervisor.config.errors import ConfigError
from supervisor.config.load import parse_config
from tests.supervisor.config.shipped_keys import numeric_keys

NUMERIC = numeric_keys()
FILE = "/etc/parkmesh/parkmesh.toml"


def test_the_shipped_file_documents_numbers_of_every_section() -> None:
    sections = {section.split(".")[0] for section, _, _ in NUMERIC}
    assert {"daemon", "vehicle", "policy", "budget", "api", "uplink", "sandbox", "ledger"} <= (
        sections
    )
    assert len(NUMERIC) >= 50


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", "+nan", "+inf"])
@pytest.mark.parametrize(
    ("section", "key", "default"), NUMERIC, ids=[f"{s}.{k}" for s, k, _ in NUMERIC]
)
def test_a_non_finite_number_is_refused_with_its_key(
    section: str, key: str, default: object, bad: str
) -> None:
    if isinstance(default, list):
        # One bad item in an otherwise good list.
        value = "[" + ", ".join([bad, *map(str, default[1:])]) + "]"
    else:
        value = bad
    with pytest.raises(ConfigError) as info:
        parse_config(f"# a comment\n[{section}]\n{key} = {value}\n", FILE)
    (problem,) = info.value.problems
    assert (problem.key, problem.line, problem.section) == (f"{section}.{key}", 3, section)
    if isinstance(default, int) or (isinstance(default, list) and isinstance(default[0], int)):
        assert problem.detail == f"must be an integer, not the number {float(bad)}"
    else:
        assert problem.detail == f"must be a finite number, not {float(bad)}"
    assert str(problem) == f"{FILE}:3: [{section}] {section}.{key}: {problem.detail}"


def test_every_non_finite_number_of_a_file_is_reported_at_once() -> None:
    tables: dict[str, list[str]] = {}
    for section, key, default in NUMERIC:
        if not isinstance(default, list):
            tables.setdefault(section, []).append(f"{key} = nan")
    text = "\n".join(f"[{section}]\n" + "\n".join(keys) for section, keys in tables.items())
    with pytest.raises(ConfigError) as info:
        parse_config(text, FILE)
    keys = [p.key for p in info.value.problems]
    assert keys == [f"{s}.{k}" for s, k, d in NUMERIC if not isinstance(d, list)]
    # One line per problem, each naming its file, line and key.
    lines = str(info.value).splitlines()
    assert len(lines) == len(keys)
    assert all(line.startswith(f"{FILE}:") for line in lines)


def test_finite_extremes_still_meet_the_limits() -> None:
    with pytest.raises(ConfigError, match=r"policy\.settle_s: must be at least 0.0, not -1e\+300"):
        parse_config("[policy]\nsettle_s = -1e300\n")
    assert parse_config("[policy]\nsettle_s = 1e300\n").policy.settle_s == 1e300
