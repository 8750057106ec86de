"""The ``parkmesh bench`` commands register under one parser and refuse bad numbers up front."""

from __future__ import annotations

import pytest

from supervisor.cli import build_parser
from supervisor.cli.bench import BENCH_MODULES


def test_every_bench_is_a_command_of_the_application() -> None:
    # The libraries measure and return figures; the commands that print them are supervisor's.
    assert all(name.startswith("supervisor.") for name in BENCH_MODULES)


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "model-steps", "--device", "cpu", "--repeats", "1", "--json"],
        ["bench", "uplink", "--jobs", "5", "--warmup", "0", "--model", "hash"],
        ["bench", "preempt", "--mode", "cooperative", "--micro-batch", "2"],
        ["bench", "overhead", "--rounds", "3", "--batch", "4"],
    ],
)
def test_bench_arguments_parse(argv: list[str]) -> None:
    assert callable(build_parser().parse_args(argv).func)


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["bench", "uplink", "--jobs", "0"], "--jobs"),
        (["bench", "uplink", "--warmup", "-1"], "--warmup"),
        (["bench", "overhead", "--rounds", "0"], "--rounds"),
        (["bench", "preempt", "--stops", "2"], "--stops"),
    ],
)
def test_bad_numbers_are_refused_before_anything_starts(
    capsys: pytest.CaptureFixture[str], argv: list[str], flag: str
) -> None:
    args = build_parser().parse_args(argv)
    assert args.func(args) == 2
    assert flag in capsys.readouterr().err
