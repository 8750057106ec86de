"""The bounds on echoed values, texts and replies, without a bus (`bounds`, `jsontext`)."""

from __future__ import annotations

import json

from supervisor.api.bounds import MAX_SHOWN, cut_text, fit_lines, shown
from supervisor.api.jsontext import fit_json, to_json


def test_shown_is_short_escaped_and_says_how_long_the_value_was():
    assert shown("55") == "'55'"
    long = shown("x" * 3_000_000)
    assert long.startswith("'xxx") and long.endswith("...[cut, 3000000 chars in all]")
    assert len(long) <= MAX_SHOWN + 40
    assert shown("a\nb\x1b\u202e") == "'a\\nb\\x1b\\u202e'"
    nested: list[object] = []
    for _ in range(100_000):
        nested = [nested]
    assert len(shown(nested)) <= MAX_SHOWN + 40
    assert shown(b"\x00" * 1000).endswith("[cut, 1000 chars in all]")


def test_cut_text_escapes_and_cuts_but_keeps_what_it_is_told():
    assert cut_text("line\n<3>forged", 100) == "line\\n<3>forged"
    assert cut_text("a\nb", 100, keep="\n") == "a\nb"
    cut = cut_text("\x00" * 1000, 50)
    assert len(cut) <= 50 + 30 and cut.endswith("[cut, 1000 chars in all]") and cut.isprintable()


def test_fit_lines_keeps_the_newest_and_says_how_many_were_left_out():
    lines = [f"{i} " + "y" * 1000 for i in range(100)]
    kept = fit_lines(lines, 20_000, line_chars=2000)
    assert kept[0].startswith("[") and "older line(s) left out" in kept[0]
    assert kept[-1] == lines[-1] and sum(len(k) + 8 for k in kept) <= 20_000
    assert fit_lines(["a\x00b"], 1000, line_chars=10) == ["a\\x00b"]


def test_fit_json_keeps_what_fits_untouched():
    value = {"a": [1, 2, 3], "b": "text"}
    assert fit_json(value, 1000) == to_json(value)


def test_fit_json_cuts_the_largest_lists_and_says_what_it_cut():
    value = {
        "jobs": [{"id": f"j{i}", "note": "n" * 200} for i in range(5000)],
        "tiny": [1, 2],
        "reason": "r" * 100_000,
    }
    text = fit_json(value, 64_000)
    assert len(text) <= 64_000
    decoded = json.loads(text)
    assert decoded["tiny"] == [1, 2]
    assert 0 < len(decoded["jobs"]) < 5000 and decoded["jobs"][0] == value["jobs"][0]
    cut = decoded["truncated"]["cut"]
    assert f"jobs: {len(decoded['jobs'])} of 5000 items kept" in cut
    assert "reason: text cut (100000 chars)" in cut
    rows = json.loads(fit_json([{"i": i} for i in range(10_000)], 5000))
    assert "truncated" in rows[-1] and rows[0] == {"i": 0} and len(rows) < 10_000
