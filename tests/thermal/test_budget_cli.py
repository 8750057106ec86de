"""``parkmesh budget``, ``curtail`` and ``simulate-night`` through `supervisor.cli.main`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from supervisor.cli import main


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_what_if_plugged_in_evening(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(capsys, "budget", "--json", "--soc", "60", "--plugged", "--now", "22:00")
    assert out["allowed_w"] == 1000.0 and out["runway_s"] is None
    assert out["derating"] == 1.0 and out["reasons"] == []


def test_what_if_hot_gpu_derates(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(capsys, "budget", "--json", "--soc", "70", "--gpu-temp", "85", "--now", "23:00")
    assert out["allowed_w"] == 500.0 and out["derating"] == 0.5
    assert out["reasons"] == ["gpu temperature above its warn threshold of 80 °C: power derated"]


def test_what_if_on_battery(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(capsys, "budget", "--json", "--soc", "70", "--unplugged", "--now", "22:00")
    assert out["allowed_w"] == 0 and out["binding"] == ["on_battery", "departure"]
    out = run_json(
        capsys,
        "budget",
        "--json",
        "--soc",
        "70",
        "--unplugged",
        "--now",
        "22:00",
        "--allow-on-battery",
        "--departure",
        "none",
        "--floor",
        "60",
        "--capacity-kwh",
        "50",
        "--compute-kw",
        "0.85",
    )
    # 10 % of 50 kWh = 5 kWh at 0.85 + 0.15 kW = 5 h.
    assert out["allowed_w"] == 850.0 and out["runway_s"] == pytest.approx(18000.0)
    assert out["runway_limit"] == "floor"


def test_what_if_departure_binds(capsys: pytest.CaptureFixture[str]) -> None:
    # 50 -> 90 % of 75 kWh is 30 kWh: 3.7 kW brings it by 07:30 but not by the margin before.
    out = run_json(
        capsys,
        "budget",
        "--json",
        "--soc",
        "50",
        "--floor",
        "40",
        "--charge-kw",
        "3.7",
        "--now",
        "23:00",
        "--departure",
        "07:30",
        "--target",
        "90",
    )
    assert out["allowed_w"] == 0 and out["binding"] == ["departure"]
    (reason,) = out["reasons"]
    assert reason.endswith(" 07:30 needs 90 %: the time left is needed for charging")


def test_what_if_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["budget", "--soc", "45", "--now", "20:00"]) == 0
    text = capsys.readouterr().out
    assert "allowed_w" in text and "runway_s" in text and "derating" in text
    assert "at or near the floor of 50 %" in text


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["budget", "--soc", "101"], "--soc"),
        (["budget", "--soc", "-1"], "--soc"),
        (["budget", "--floor", "10"], "--floor"),
        (["budget", "--floor", "95"], "--floor"),
        (["budget", "--target", "120"], "--target"),
        (["budget", "--capacity-kwh", "0"], "--capacity-kwh"),
        (["budget", "--charge-kw", "nan"], "--charge-kw"),
        (["budget", "--compute-kw", "0"], "--compute-kw"),
        (["budget", "--gpu-temp", "500"], "--gpu-temp"),
        (["budget", "--cabin-temp", "hot"], "--cabin-temp"),
        (["budget", "--now", "25:00"], "--now"),
        (["budget", "--departure", "7h30"], "--departure"),
        (["curtail", "--level", "4", "--duration", "10"], "--level"),
        (["curtail", "--limit-kw", "-1", "--duration", "10"], "--limit-kw"),
        (["curtail", "--level", "1", "--duration", "0"], "--duration"),
        (["simulate-night", "--soc", "200"], "--soc"),
    ],
)
def test_out_of_range_flags_are_refused_naming_the_flag(
    capsys: pytest.CaptureFixture[str], argv: list[str], flag: str
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert f"argument {flag}" in capsys.readouterr().err


def test_without_inputs_budget_asks_the_daemon(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import supervisor.api.client as client

    calls: list[tuple[Any, ...]] = []

    def fake_call_json(method: str, *args: Any, bus: str | None = None) -> Any:
        calls.append((method, *args))
        return {"allowed_w": 420.0, "runway_s": 60.0, "derating": 0.42, "reasons": ["hot"]}

    monkeypatch.setattr(client, "call_json", fake_call_json)
    out = run_json(capsys, "budget", "--json")
    assert calls == [("GetBudget",)]
    assert out["allowed_w"] == 420.0


def test_curtail_sends_the_request(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import supervisor.api.client as client

    sent: list[Any] = []

    def fake_call_json(method: str, *args: Any, bus: str | None = None) -> Any:
        sent.append((method, json.loads(args[0])))
        return {"id": "c1", **json.loads(args[0])}

    monkeypatch.setattr(client, "call_json", fake_call_json)
    out = run_json(
        capsys,
        "curtail",
        "--limit-kw",
        "0.5",
        "--duration",
        "30",
        "--start-in",
        "60",
        "--randomize",
        "120",
        "--json",
    )
    assert sent == [
        (
            "AddCurtailment",
            {
                "duration_s": 1800.0,
                "start_in_s": 60.0,
                "randomize_s": 120.0,
                "import_limit_kw": 0.5,
            },
        )
    ]
    assert out["id"] == "c1"


def test_daemon_not_reachable_is_said_clearly(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PARKMESH_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    # The command line's one status for a daemon it cannot reach (`EX_UNREACHABLE`).
    assert main(["budget", "--json"]) == 3
    assert "daemon not reachable" in capsys.readouterr().err
    assert main(["curtail", "--level", "3", "--duration", "5"]) == 3
    assert "daemon not reachable" in capsys.readouterr().err


def test_simulate_night_defaults_leave_at_target_with_a_plot(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plot = tmp_path / "night.png"
    out = run_json(capsys, "simulate-night", "--json", "--plot", str(plot))
    assert out["departure_soc"] >= 80.0 and out["target_met"]
    assert 8.0 < out["compute_hours"] < 12.5
    assert 7.0 < out["compute_kwh"] < 12.5
    assert {"floor", "curtailment"} <= set(out["binding"])
    assert out["binding_minutes"]["curtailment"] == 60
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 20000


def test_simulate_night_weak_charger_still_leaves_at_target(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # 3 kW brings 40 -> 80 % (30 kWh) in 10 h of the 12.5: about 5 h are spare for compute.
    out = run_json(capsys, "simulate-night", "--json", "--charge-kw", "3.0", "--no-curtailment")
    assert out["departure_soc"] >= 80.0 - 1e-6
    assert "departure" in out["binding"]
    assert 4.0 < out["compute_hours"] < 7.0  # derated hours draw less, so a few more fit
