"""``parkmesh dispatcher``, ``parkmesh dispatcher control`` and ``parkmesh submit``: every flag
explained, examples in each epilog."""

from __future__ import annotations

import argparse

import pytest

from supervisor.cli import build_parser, main


def subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and name in action.choices:
            found: argparse.ArgumentParser = action.choices[name]
            return found
    raise KeyError(name)


def parsers() -> dict[str, argparse.ArgumentParser]:
    top = build_parser()
    dispatcher = subparser(top, "dispatcher")
    return {
        "dispatcher": dispatcher,
        "dispatcher control": subparser(dispatcher, "control"),
        "submit": subparser(top, "submit"),
    }


@pytest.mark.parametrize("name", ["dispatcher", "dispatcher control", "submit"])
def test_every_flag_is_explained_and_examples_follow(name: str) -> None:
    parser = parsers()[name]
    unexplained = [
        a.option_strings or a.dest
        for a in parser._actions
        if not isinstance(a, argparse._SubParsersAction) and not (a.help or "").strip()
    ]
    assert unexplained == []
    assert parser.description
    assert parser.epilog and parser.epilog.startswith("examples:\n")
    assert f"parkmesh {name} " in parser.epilog


def test_the_control_help_shows_how_to_name_cars(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["dispatcher", "control", "--help"])
    text = capsys.readouterr().out
    for flag in ("--car ID", "--group NAME", "--all", "--groups FILE", "--max-power-w WATTS"):
        assert flag in text
    assert 'depot = ["car1", "car2"]' in text  # the groups file, by example


def test_the_dispatcher_help_lists_its_control_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["dispatcher", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "control drain, resume or curtail cars through the running dispatcher" in text
