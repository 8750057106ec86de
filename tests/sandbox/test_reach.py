"""A confined worker cannot reach beyond its job: siblings, files, state, parent-death signal.

The self-test's targets are checked twice: from a real confined worker every attempt is
refused and nothing changes; from an unconfined process of the same user the very same
attempts succeed (so the targets are real and the refusals are the confinement's).
"""

from __future__ import annotations

import os
import signal

import pytest

from sandbox import reach
from sandbox.config import SandboxConfig
from sandbox.selftest import CANARY, offered_targets, run_selftest
from tests.sandbox.conftest import FAKE_LOADER, WORKER_UID, root_only
from tests.sandbox.test_landlock import in_child

# serial: it renices every process of the worker user, which other tests' workers share.
pytestmark = [pytest.mark.serial, pytest.mark.single_threaded]

MODEL = "fake-encoder"
# Every attempt the issue lists, by the name the self-test reports.
REACH = (
    "signal_sibling",
    "tgkill_sibling",
    "sigqueue_sibling",
    "tgsigqueue_sibling",
    "prlimit_sibling",
    "setpriority_sibling",
    "setpriority_user",
    "sched_setaffinity_sibling",
    "sched_setscheduler_sibling",
    "ioprio_set_sibling",
    "clear_parent_death_signal",
    "write_own_key",
    "append_own_key",
    "append_world_writable",
    "truncate_world_writable_open",
    "truncate_world_writable",
    "setxattr_world_writable",
    "set_times_world_writable",
    "read_ledger",
    "read_uplink_store",
    "read_config",
    "list_state_directory",
    "read_system_file",
)
CONTROLS = (
    "threads_still_work",
    "signal_itself",
    "pdeathsig_still_armed",
    "own_limits_and_priority",
    "import_from_site_packages",
    "list_models",
)


@root_only
async def test_selftest_denies_every_reach_and_changes_nothing(node: SandboxConfig) -> None:
    report = await run_selftest(node, MODEL, loader=FAKE_LOADER)
    attempts = {a["name"]: a for a in report["attempts"]}
    missing = set(REACH) - set(attempts)
    assert not missing, missing
    refused = {name: attempts[name] for name in REACH if not attempts[name]["denied"]}
    assert not refused, refused
    assert report["all_denied"] and report["n"] == len(attempts) >= 19 + len(REACH)
    controls = {c["name"]: c for c in report["controls"]}
    assert set(CONTROLS) <= set(controls)
    assert report["controls_work"], controls
    assert report["targets_unchanged"]  # sibling still stopped, files byte for byte the same
    steps = {s["name"]: s for s in report["confinement"]}
    assert steps["landlock"]["applied"] and steps["landlock"]["detail"].startswith("ABI ")
    assert report["confined"]
    # The sibling's signals: scoped by Landlock (ABI 6) and limited by seccomp, EPERM both.
    for name in ("signal_sibling", "sigqueue_sibling", "tgsigqueue_sibling", "prlimit_sibling"):
        assert attempts[name]["detail"].startswith("EPERM"), attempts[name]
    # Files outside the rules are refused by Landlock (EACCES); times and xattrs by seccomp.
    for name in ("write_own_key", "read_ledger", "read_uplink_store", "read_config"):
        assert attempts[name]["detail"].startswith("EACCES"), attempts[name]


@root_only
def test_the_same_attempts_succeed_without_confinement(node: SandboxConfig) -> None:
    """The negative control: a plain process of the worker user reaches every target."""
    with offered_targets(node) as targets:
        wire = targets.to_wire(node.models_dir)
        before = targets.fingerprint()

        def body() -> list[reach.Attempt]:
            os.setgroups([])
            os.setresgid(WORKER_UID, WORKER_UID, WORKER_UID)
            os.setresuid(WORKER_UID, WORKER_UID, WORKER_UID)
            return reach.try_reach(wire)

        result = in_child(body)
        after = targets.fingerprint()
        assert isinstance(result, dict) and "ok" in result, result
        attempts = {a["name"]: a for a in result["ok"]}
        assert targets.world_writable.read_text() != f"{CANARY}\n"  # it was truncated
    # Extended attributes need a filesystem that stores user.* ones; everything else must go.
    unsupported = {"setxattr_world_writable"}
    reached = {n for n, a in attempts.items() if a["detail"].startswith("succeeded")}
    assert set(REACH) - unsupported <= reached, attempts
    assert before["sibling_stopped"] and not after["sibling_stopped"]  # SIGCONT delivered


def test_a_wrong_target_is_not_counted_as_denied() -> None:
    gone = 2**22 + 12345  # above the default pid_max: no such process
    attempt = reach.attempt("signal_sibling", lambda: os.kill(gone, signal.SIGCONT))
    assert attempt == {
        "name": "signal_sibling",
        "denied": False,
        "detail": "failed for another reason: ESRCH",
    }


def test_attempts_without_a_target_are_left_out() -> None:
    # In a child: the attempt on the parent-death signal must not touch pytest's own.
    result = in_child(lambda: [a["name"] for a in reach.try_reach({})])
    assert result == {"ok": ["clear_parent_death_signal", "read_system_file"]}


def test_selftest_targets_are_cleaned_up(node: SandboxConfig) -> None:
    with offered_targets(node) as targets:
        sibling = targets.sibling
        base = targets.base
        assert (base / "state" / "ledger.sqlite").stat().st_mode & 0o777 == 0o644
    assert sibling.returncode is not None and not base.exists()
