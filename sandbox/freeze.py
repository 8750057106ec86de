"""Reading a worker's state from /proc: stopped threads, memory, and why it died.

Freezing (SIGSTOP) is how a busy CPU worker stops within a millisecond: the kernel stops each
thread at its next entry into the kernel or its next timer tick, whatever it is computing. The
supervisor does not take the signal's word for it: a freeze counts only once the kernel reports
the group stop complete (``waitid(WSTOPPED | WNOWAIT)``, one cheap call to poll) and every thread
of the worker then shows state ``T`` (stopped) in ``/proc/PID/task/TID/stat``. Polling only
/proc costs more CPU per poll, and on a loaded machine that CPU is what the worker's threads
need to reach their stop (measured: p50 0.47 ms polling /proc every 50 µs, 0.21 ms with
waitid).
"""

from __future__ import annotations

import os
import signal


def thread_states(pid: int) -> list[str]:
    """The state letter of each thread of `pid` (empty if the process is gone)."""
    states: list[str] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return states
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue  # the thread exited meanwhile
        # The command name is in parentheses and may hold spaces; the state follows the last ')'.
        states.append(chr(data[data.rindex(b")") + 2]))
    return states


def all_threads_stopped(pid: int) -> bool:
    """Whether every thread of `pid` is stopped by a signal (``T``) or traced (``t``)."""
    states = thread_states(pid)
    return bool(states) and all(s in "Tt" for s in states)


def group_stop_reported(pid: int) -> bool:
    """Whether the kernel reports our child `pid` stopped (all its threads took part in the
    group stop). One system call, and the report is left in place (WNOWAIT), so this can be
    polled; SIGCONT clears it. Only the parent process may ask."""
    try:
        info = os.waitid(os.P_PID, pid, os.WSTOPPED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return info is not None and info.si_code == os.CLD_STOPPED


def rss_bytes(pid: int) -> int | None:
    """Resident set size of `pid` in bytes, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            fields = f.read().split()
    except OSError:
        return None
    return int(fields[1]) * os.sysconf("SC_PAGE_SIZE")


# SIGKILL has no hint: the pool, another process or the kernel's out-of-memory killer may
# have sent it, and the exit status does not say which (the pool knows its own kills).
_HINTS = {
    "SIGSEGV": "segmentation fault",
    "SIGBUS": "bus error",
    "SIGSYS": "seccomp kill",
    "SIGABRT": "abort",
}


def describe_exit(returncode: int | None, note: str = "") -> str:
    """Why a worker ended, as far as known: 'killed by SIGSEGV (signal 11, segmentation
    fault)', 'killed by SIGKILL (signal 9)', 'exit status 1', ..."""
    if returncode is None:
        text = "still running"
    elif returncode < 0:
        sig = -returncode
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        hint = _HINTS.get(name, "")
        text = f"killed by {name} (signal {sig}" + (f", {hint})" if hint else ")")
    else:
        text = f"exit status {returncode}"
    return f"{text}; {note}" if note else text


def boost_priority(stop_priority: int) -> int:
    """The real-time priority a frozen worker's threads are raised to: one above the stop
    path's (`stop_priority`, the stop threads' and the confirmers'), 0 when the stop path runs
    without real-time priority.

    Above, not below: on a hard stop the stop threads of the daemon and of its guardian both
    run Python for a few hundred microseconds (decoding, the pages, the confirmers' polls), and
    on a machine with few cores a thread below them waited for all of it before it could run
    into its stop (``bench stop-under-load``: flag to idle p99 2.1 ms, boosted below; see
    docs/stop-path.md). A thread with a SIGSTOP pending runs no user code: raised, it takes a
    CPU only for the kernel's way into the stop (microseconds), then uses none. The boost is
    always undone before the worker is continued (`unboost_threads`).
    """
    return min(99, stop_priority + 1) if stop_priority > 0 else 0


def boost_threads(pid: int, priority: int) -> list[int]:
    """Give every thread of the (frozen) process `pid` SCHED_FIFO `priority`; returns the
    thread ids changed.

    A SIGSTOP takes effect in a thread only when that thread next runs; on a loaded machine a
    normal-priority thread can wait several milliseconds for a CPU. Boosted, each thread runs
    at once, reaches the stop and stays stopped: a stopped thread uses no CPU whatever its
    priority. `unboost_threads` must undo it before the process is continued.
    """
    boosted: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return boosted
    for tid in tids:
        try:
            os.sched_setscheduler(
                int(tid), os.SCHED_FIFO | os.SCHED_RESET_ON_FORK, os.sched_param(priority)
            )
        except OSError:  # the thread exited, or no privilege: it stops when it runs
            continue
        boosted.append(int(tid))
    return boosted


def unboost_threads(tids: list[int]) -> None:
    """Return the threads `boost_threads` changed to normal scheduling (before SIGCONT)."""
    for tid in tids:
        try:
            os.sched_setscheduler(tid, os.SCHED_OTHER, os.sched_param(0))
        except OSError:
            continue
