"""``parkmesh dispatcher --dev`` as a real process: its job log on stderr, ``parkmesh submit``
and ``parkmesh dispatcher control`` against it, and the real encoder on its stand-in cars."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[3]


def parkmesh(*argv: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "supervisor.cli", *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


class DevMesh:
    """A running ``parkmesh dispatcher --dev DIR --cars 2``; its stderr goes to `log`."""

    def __init__(self, root: Path) -> None:
        self.root, self.log = root, root.parent / "dispatcher.log"
        with self.log.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "supervisor.cli", "dispatcher", "--dev", str(root),
                 "--cars", "2"],
                cwd=REPO, stdout=subprocess.PIPE, stderr=err, text=True,
            )  # fmt: skip
        assert self.proc.stdout is not None
        ready = json.loads(self.proc.stdout.readline() or "{}")
        assert ready.get("ready"), self.log.read_text()

    def wait_log(self, text: str, timeout_s: float = 10.0) -> str:
        """Wait for `text` in the dispatcher's stderr; returns the whole log."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            log = self.log.read_text()
            if text in log:
                return log
            time.sleep(0.05)
        raise TimeoutError(f"{text!r} not in the dispatcher's log:\n{self.log.read_text()}")

    def stop(self) -> None:
        """SIGTERM, as a service manager stops it: its broker goes with it."""
        children = psutil.Process(self.proc.pid).children(recursive=True)
        self.proc.terminate()
        self.proc.wait(timeout=20)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        _gone, alive = psutil.wait_procs(children, timeout=10)
        for left in alive:
            left.kill()
        assert not alive, f"left running after SIGTERM: {[p.name() for p in alive]}"


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[DevMesh]:
    mesh = DevMesh(tmp_path / "dev")
    try:
        yield mesh
    finally:
        mesh.stop()


def submit(dev: DevMesh, model: str, timeout_s: float = 60.0) -> dict[str, object]:
    """``parkmesh submit --json``, again while the dispatcher has not heard from a car yet."""
    deadline = time.monotonic() + 20.0
    while True:
        done = parkmesh(
            "submit", "--dev", str(dev.root), "--model", model, "--text", "parked cars",
            "--json", timeout_s=timeout_s,
        )  # fmt: skip
        if done.returncode == 0 or "declined" not in done.stderr or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_a_job_is_logged_and_a_drain_acknowledged(dev: DevMesh) -> None:
    result = submit(dev, "hash")
    log = dev.wait_log(f"job {result['job']}: done in ")
    assert f"job {result['job']}: quoted to client: model hash, tier batch, k 1, cars car" in log
    assert f"job {result['job']}: offer to car" in log
    drained = parkmesh("dispatcher", "control", "drain", "--dev", str(dev.root), "--car", "car1")
    assert (drained.returncode, drained.stdout) == (0, "car1: ok\n"), drained.stderr
    assert "car1 acknowledged" in dev.wait_log("car1 acknowledged")


@pytest.mark.slow
def test_the_stand_in_cars_run_the_real_encoder(dev: DevMesh) -> None:
    # The first job provisions and loads the model: give it time.
    result = submit(dev, "all-MiniLM-L6-v2", timeout_s=300.0)
    output = result["output"]
    assert isinstance(output, dict)
    (vector,) = output["embeddings"]
    assert len(vector) == 384
    assert abs(sum(x * x for x in vector) - 1.0) < 1e-3  # a sentence-transformers embedding
