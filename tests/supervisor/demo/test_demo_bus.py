"""Two demos of one user: each has its own bus in its own run folder, and one ending leaves
the other's bus alone."""

from __future__ import annotations

from pathlib import Path

from jeepney.io.blocking import open_dbus_connection

from supervisor.demo.bus import demo_bus_dir, open_private_bus


def _answers(address: str) -> bool:
    with open_dbus_connection(address) as conn:  # authenticates and says Hello
        return bool(conn.unique_name)


def test_two_demo_runs_have_two_buses_and_one_ending_keeps_the_other(tmp_path: Path) -> None:
    first_run, second_run = tmp_path / "first", tmp_path / "second"
    assert demo_bus_dir(first_run) != demo_bus_dir(second_run)
    with open_private_bus(demo_bus_dir(second_run)) as second:
        with open_private_bus(demo_bus_dir(first_run)) as first:
            assert first != second
            assert _answers(first) and _answers(second)
        # The first demo ended: its bus is gone, the second one's still serves.
        assert not (demo_bus_dir(first_run) / "bus").exists()
        assert (demo_bus_dir(second_run) / "bus").exists()
        assert _answers(second)
