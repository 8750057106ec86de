"""The sandbox commands register without importing torch, and refuse bad arguments."""

from __future__ import annotations

import subprocess
import sys

import pytest

from supervisor.cli import build_parser


def test_commands_register_without_torch() -> None:
    code = (
        "import sys; from supervisor.cli import build_parser; build_parser(); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    "argv",
    [
        ["infer", "--model", "m", "--text", "a", "--json"],
        ["infer", "--model", "m", "--prompt", "p", "--max-new-tokens", "4"],
        ["selftest", "sandbox", "--json"],
        ["bench", "preempt", "--stops", "200", "--json"],
        ["bench", "overhead", "--json"],
        ["sandbox", "provision", "--json"],
    ],
)
def test_arguments_parse(argv: list[str]) -> None:
    assert callable(build_parser().parse_args(argv).func)


def test_infer_needs_text_or_prompt(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["infer", "--model", "m"])
    assert "--text" in capsys.readouterr().err


def test_bad_numbers_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(
        ["infer", "--model", "m", "--prompt", "p", "--max-new-tokens", "0"]
    )
    assert args.func(args) == 2
    assert "--max-new-tokens" in capsys.readouterr().err
    args = build_parser().parse_args(["bench", "preempt", "--stops", "1"])
    assert args.func(args) == 2
