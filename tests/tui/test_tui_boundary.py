"""The TUI stays a client: it imports nothing of the daemon, and its names match the XML."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from supervisor.api import names
from supervisor.api.spec import interfaces
from tui import client

REPO = Path(__file__).resolve().parents[2]


def _modules_after(code: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    modules: list[str] = json.loads(out.stdout)
    return modules


def test_tui_imports_no_daemon_package() -> None:
    loaded = _modules_after("import tui.app")
    assert "textual" in loaded
    daemon = [
        m
        for m in loaded
        if m.split(".")[0] in ("supervisor", "thermal", "sandbox", "uplink", "torch")
    ]
    assert daemon == []


def test_daemon_side_imports_no_textual() -> None:
    loaded = _modules_after(
        "import supervisor.api.service, supervisor.api.client, supervisor.cli.status, "
        "supervisor.cli.prefs, supervisor.cli.ledger, supervisor.cli.tui"
    )
    assert not [m for m in loaded if m.split(".")[0] in ("textual", "rich")]


def test_only_the_client_speaks_dbus() -> None:
    # The app and its screens reach the daemon only through the `DaemonSource` they are given:
    # jeepney, and the client that uses it, are imported by the client and the entry alone.
    for path in sorted((REPO / "tui").rglob("*.py")):
        name = path.relative_to(REPO).as_posix()
        text = path.read_text()
        if name != "tui/client.py":
            assert "jeepney" not in text, name
        if name not in ("tui/client.py", "tui/__main__.py"):
            imports = ("from tui.client import", "import tui.client", "from tui import client")
            assert not any(i in text for i in imports), name


def test_tui_names_match_the_interface() -> None:
    assert (client.BUS_NAME, client.OBJECT_PATH, client.INTERFACE) == (
        names.BUS_NAME,
        names.OBJECT_PATH,
        names.INTERFACE,
    )
    assert client.INVALID_ARGS == names.ERROR_INVALID_ARGS
    assert client.BUS_ENV == "PARKMESH_BUS_ADDRESS"
    methods = interfaces()[names.INTERFACE].methods
    # Every call the TUI makes, with the signature it sends.
    used = {
        "GetLog": "u",
        "LedgerRecent": "u",
        "LedgerStatement": "s",
        "SetPreference": "ss",
        "Drain": "",
        "Resume": "",
        "TestStop": "",
        "Pause": "d",
        "Unpause": "",
        "AddCurtailment": "s",
        "RestartWorker": "s",
        "ReloadConfig": "",
    }
    for method, signature in used.items():
        assert methods[method].in_signature == signature, method
    source = (REPO / "tui" / "client.py").read_text()
    for method in used:
        assert f'"{method}"' in source


def test_plot_draws_points_floor_and_target() -> None:
    from tui.widgets.plot import draw

    text = draw([(0, 70.0), (1800, 65.0), (3600, 60.0)], 50.0, 80.0, 60, 12).plain
    lines = text.splitlines()
    assert len(lines) == 12
    assert text.count("●") == 3
    assert "floor 50 %" in text and "target 80 %" in text
    floor_row = next(i for i, line in enumerate(lines) if "floor" in line)
    target_row = next(i for i, line in enumerate(lines) if "target" in line)
    assert target_row < floor_row  # higher percentages are drawn higher up
    assert draw([], None, None, 60, 12).plain.startswith("no projection")


def test_entry_points_start() -> None:
    for argv in (["-m", "tui", "--help"], ["-m", "supervisor.cli", "tui", "--help"]):
        out = subprocess.run(
            [sys.executable, *argv], cwd=REPO, capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr
        assert "--bus" in out.stdout
