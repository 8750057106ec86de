"""Landlock: the worker's rules, and their effect on a real (forked, single-threaded) process."""

from __future__ import annotations

import errno
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox import landlock

# serial: Landlock covers only a single-threaded process, and a test process beside
# pytest-xdist's own threads is not one.
pytestmark = [pytest.mark.serial, pytest.mark.single_threaded]

needs_landlock = pytest.mark.skipif(
    landlock.abi_version()[0] < landlock.MIN_ABI, reason="kernel without Landlock ABI 3"
)


def in_child(body: Callable[[], object]) -> object:
    """Run `body` in a forked child (single-threaded: only the forking thread survives) and
    return what it returned, or the text of what it raised."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read_end)
        try:
            out: object = {"ok": body()}
        except BaseException as exc:  # report anything to the parent
            out = {"error": f"{type(exc).__name__}: {exc}"}
        os.write(write_end, json.dumps(out).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    return json.loads(data)


def rules_for(tmp_path: Path) -> list[landlock.Rule]:
    (tmp_path / "models").mkdir()
    (tmp_path / "scratch").mkdir()
    (tmp_path / "worker.key").write_bytes(b"k" * 32)
    return landlock.worker_rules(
        python=["/usr/lib/python3"],
        models_dir=tmp_path / "models",
        worker_key=tmp_path / "worker.key",
        scratch=tmp_path / "scratch",
    )


def test_the_key_is_read_only_and_only_scratch_is_writable(tmp_path: Path) -> None:
    rules = {r.path: r.access for r in rules_for(tmp_path)}
    key = rules[str(tmp_path / "worker.key")]
    assert key == landlock.READ_FILE
    writable = {p for p, a in rules.items() if a & (landlock.MAKE_REG | landlock.REMOVE_FILE)}
    assert writable == {str(tmp_path / "scratch")}
    assert str(tmp_path) not in rules and "/" not in rules and "/etc" not in rules
    assert not any(a & landlock.EXECUTE for a in rules.values())
    assert "/sys/devices/system" in rules and "/sys" not in rules  # no GPU: no /sys at large


def test_gpu_devices_get_ioctl_only_when_given(tmp_path: Path) -> None:
    rules = landlock.worker_rules(
        python=[],
        models_dir=tmp_path,
        worker_key=tmp_path / "k",
        scratch=tmp_path,
        devices=["/dev/nvidiactl", "/dev/nvidia0"],
    )
    by_path = {r.path: r.access for r in rules}
    assert by_path["/dev/nvidiactl"] & landlock.IOCTL_DEV
    assert "/sys" in by_path
    assert not by_path["/dev/null"] & landlock.IOCTL_DEV


def test_python_roots_never_include_the_root_directory(tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "real")
    (tmp_path / "real").mkdir()
    roots = landlock.python_roots(["/", str(tmp_path / "missing")], ["", "/", str(link)])
    assert roots == [str(link), str(tmp_path / "real")]


def test_without_landlock_the_worker_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(landlock, "abi_version", lambda: (0, "Landlock unavailable: EOPNOTSUPP"))
    with pytest.raises(landlock.LandlockError, match="Landlock unavailable: EOPNOTSUPP"):
        landlock.restrict([])
    monkeypatch.setattr(landlock, "abi_version", lambda: (2, ""))
    with pytest.raises(landlock.LandlockError, match="ABI 2 is too old"):
        landlock.restrict([])


@needs_landlock
def test_restricted_process_opens_only_what_the_rules_grant(tmp_path: Path) -> None:
    rules = rules_for(tmp_path)
    state = tmp_path / "state"
    state.mkdir()
    (state / "ledger.sqlite").write_text("secret")
    (state / "ledger.sqlite").chmod(0o644)
    (tmp_path / "models" / "m.safetensors").write_text("weights")

    def body() -> dict[str, str]:
        detail = landlock.restrict(rules)
        out = {"detail": detail}
        for name, action in {
            "state": lambda: (state / "ledger.sqlite").read_text(),
            "list_state": lambda: os.listdir(state),
            "key_write": lambda: os.open(tmp_path / "worker.key", os.O_WRONLY),
            "key_read": lambda: (tmp_path / "worker.key").read_bytes().decode(),
            "model": lambda: (tmp_path / "models" / "m.safetensors").read_text(),
            "scratch": lambda: (tmp_path / "scratch" / "f").write_text("ok"),
            "proc": lambda: Path("/proc/self/status").read_text()[:4],
        }.items():
            try:
                action()
                out[name] = "ok"
            except OSError as exc:
                out[name] = errno.errorcode[exc.errno or 0]
        return out

    result = in_child(body)
    assert isinstance(result, dict) and "ok" in result, result
    seen = result["ok"]
    assert seen["detail"].startswith("ABI "), seen
    assert seen["state"] == seen["list_state"] == seen["key_write"] == "EACCES", seen
    assert seen["key_read"] == seen["model"] == seen["scratch"] == seen["proc"] == "ok", seen


@needs_landlock
def test_restrict_refuses_a_process_with_threads_running(tmp_path: Path) -> None:
    rules = rules_for(tmp_path)

    def body() -> str:
        stop = threading.Event()
        threading.Thread(target=stop.wait, daemon=True).start()
        try:
            return landlock.restrict(rules)
        finally:
            stop.set()

    result = in_child(body)
    assert result == {
        "error": "LandlockError: 2 threads running: Landlock would not cover the others"
    }
