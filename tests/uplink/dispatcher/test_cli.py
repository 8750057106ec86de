"""``parkmesh dispatcher``: its back-off options, and the real process SIGKILLed mid-job."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from supervisor.cli import main
from uplink.broker import Mosquitto
from uplink.dispatcher.reconnect import reconnect_backoff
from uplink.dispatcher.store import JobStore
from uplink.dispatcher.submit import JobFailed, Outcome, SubmitClient
from uplink.local_port import LocalPort
from uplink.mesh import Mesh
from uplink.node import NodeUplink
from uplink.testing import running, wait_until

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (
            ["--reconnect-min-s", "0"],
            "--reconnect-min-s must be a finite number of seconds >= 0.01",
        ),
        (["--reconnect-min-s", "nan"], "--reconnect-min-s must be a finite number"),
        (["--reconnect-max-s", "inf"], "--reconnect-max-s must be a finite number"),
        (
            ["--reconnect-max-s", "0.05"],
            "--reconnect-max-s must be a finite number of seconds >= 0.1",
        ),
        (
            ["--reconnect-min-s", "5", "--reconnect-max-s", "1"],
            "--reconnect-max-s (1.0) must not be below --reconnect-min-s (5.0)",
        ),
    ],
)
def test_bad_back_off_is_refused_before_anything_starts(
    argv: list[str], error: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dev = tmp_path / "mesh"
    assert main(["dispatcher", "--dev", str(dev), *argv]) == 2
    assert f"parkmesh dispatcher: {error}" in capsys.readouterr().err
    assert not dev.exists()  # no broker was started, no files laid out


def test_back_off_that_is_not_a_number_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["dispatcher", "--reconnect-max-s", "soon"])
    assert exit_.value.code == 2
    assert "--reconnect-max-s: invalid float value: 'soon'" in capsys.readouterr().err


def test_help_documents_the_back_off(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["dispatcher", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--reconnect-min-s SECONDS first reconnect back-off ceiling" in text
    assert "(default 0.2, at least 0.01)" in text
    assert "largest reconnect back-off (default 10.0, at least 0.1" in text


def test_the_dispatcher_takes_its_back_off_and_keeps_a_persistent_session(mesh: Mesh) -> None:
    dispatcher = mesh.dispatcher([], [], reconnect_min_s=0.05, reconnect_max_s=2.0)
    assert (dispatcher.mqtt.backoff.base_s, dispatcher.mqtt.backoff.cap_s) == (0.05, 2.0)
    assert dispatcher.mqtt.manual_ack and dispatcher.mqtt.session_expiry_s >= 3600
    with pytest.raises(ValueError, match="reconnect_max_s"):
        mesh.dispatcher([], [], reconnect_min_s=1.0, reconnect_max_s=0.5)
    assert reconnect_backoff(0.01, 0.1).cap_s == 0.1


@pytest.mark.slow
async def test_a_sigkilled_dispatcher_process_answers_its_job_once_after_a_restart(
    mesh: Mesh, broker: Mosquitto, open_tap: Callable[[str], Any], tmp_path: Path
) -> None:
    for folder, names in (("nodes", ["car1"]), ("clients", ["alice"])):
        (tmp_path / folder).mkdir()
        for name in names:
            (tmp_path / folder / f"{name}.pub").write_text(mesh.public_key(name).hex())
    certs = broker.client_cert(f"dispatcher-{mesh.prefix}")
    db, log = tmp_path / "dispatcher.sqlite3", tmp_path / "dispatcher.log"
    argv = [
        sys.executable, "-m", "supervisor.cli", "dispatcher", "--host", "127.0.0.1",
        "--port", str(mesh.port), "--ca", str(broker.ca.cert), "--cert", str(certs.cert),
        "--key", str(certs.key), "--signing-key", str(mesh.signing_key_path("dispatcher")),
        "--nodes-dir", str(tmp_path / "nodes"), "--clients-dir", str(tmp_path / "clients"),
        "--db", str(db), "--prefix", mesh.prefix, "--client-id", f"dispatcher-{mesh.prefix}",
        "--reconnect-min-s", "0.05", "--reconnect-max-s", "0.5",
    ]  # fmt: skip

    def spawn() -> subprocess.Popen[bytes]:
        out = log.open("ab")
        with out:
            return subprocess.Popen(argv, cwd=REPO, stdout=out, stderr=out)

    async def wait_connected(connects: int) -> None:
        await wait_until(
            lambda: log.read_text().count("connected to 127.0.0.1") >= connects,
            30.0,
            f"dispatcher connection {connects} (log: {log})",
        )

    port = LocalPort()
    node = NodeUplink.open(mesh.node_config("car1"), port)
    client, tap = mesh.client("alice"), open_tap("alice")
    answers: list[Outcome | JobFailed] = []
    proc = spawn()
    try:
        await wait_connected(1)
        async with running(tap, node, client) as nursery:
            nursery.start_soon(submit_when_seen, client, answers)
            await wait_until(lambda: node.running_jobs, 20.0, "the job to start on car1")
            proc.send_signal(signal.SIGKILL)  # no DISCONNECT, no last commit: a crash
            await trio.to_thread.run_sync(proc.wait)
            await wait_until(
                lambda: node.answered["result"] == 1 and node.snapshot()["outbox"] == 0,
                10.0,
                "the result to reach the broker",
            )
            proc = spawn()
            await wait_connected(2)
            await wait_until(lambda: answers, 15.0, "the answer after the restart")
            await wait_until(lambda: port.receipts, 5.0, "the receipt")
            await trio.sleep(0.3)  # room for a second answer to show up
    finally:
        proc.kill()
        proc.wait(timeout=10)
    (outcome,) = answers
    assert isinstance(outcome, Outcome), outcome
    # Sends the broker had not acknowledged before the kill came again: same id, dropped.
    assert set(tap.answers(outcome.job)) == {("job_result", f"{outcome.job}:job_result")}
    assert node.receipts == {"recorded": 1}
    store = JobStore(db)
    assert [(o["job"], o["outcome"]) for o in store.outcomes()] == [(outcome.job, "done")]
    assert [r["receipt"] for r in store.receipts()] == [port.receipts[0].receipt_id]
    store.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()


async def submit_when_seen(client: SubmitClient, answers: list[Outcome | JobFailed]) -> None:
    """Submit one job, again while the dispatcher does not know the car yet (``declined``)."""
    with trio.fail_after(20.0):
        while True:
            try:
                answers.append(await client.submit("hash", ["sleep:1.0:x"], k=1, spares=0))
                return
            except JobFailed as exc:
                if exc.reason != "declined":
                    answers.append(exc)
                    return
            await trio.sleep(0.05)
