"""Escape attempts beyond the job, for ``parkmesh selftest sandbox``: a sibling process of the
same user, files outside scratch, the daemon's state, the parent-death signal.

Each attempt counts as denied only when the kernel refuses it for permission (``EPERM`` or
``EACCES``): any other error (``ESRCH``, ``ENOENT``) means the target was wrong, and is
reported as not denied so that a broken self-test cannot pass. An attempt whose target the
supervisor did not give is left out. Nothing here runs unless the supervisor asks for a
self-test.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import resource
import signal
import struct
import threading
from collections.abc import Callable
from typing import Any

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

Attempt = dict[str, Any]
DENIALS = (errno.EPERM, errno.EACCES)
PR_SET_PDEATHSIG = 1
PR_GET_PDEATHSIG = 2
IOPRIO_WHO_PROCESS = 1
SI_QUEUE = -1
# State files the self-test offers, by the name of the attempt that reads each.
STATE_FILES = ("ledger", "uplink_store", "config")


def _fail_with(err: int) -> None:
    raise OSError(err, os.strerror(err))


def _raw(name: str, *args: Any) -> int:
    """A raw system call by name; raises OSError on failure."""
    import pyseccomp as sc

    nr = int(sc.resolve_syscall(sc.system_arch(), name))
    wide = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    rc = int(_libc.syscall(ctypes.c_long(nr), *wide))
    if rc == -1:
        _fail_with(ctypes.get_errno())
    return rc


def attempt(name: str, action: Callable[[], Any]) -> Attempt:
    """Run `action`; denied only if it raised OSError with a permission errno."""
    try:
        detail = action()
    except OSError as exc:
        code = errno.errorcode.get(exc.errno or 0, str(exc.errno))
        if exc.errno in DENIALS:
            return {"name": name, "denied": True, "detail": f"{code}: {exc.strerror}"}
        return {"name": name, "denied": False, "detail": f"failed for another reason: {code}"}
    return {"name": name, "denied": False, "detail": f"succeeded: {detail}"}


def _siginfo(sig: int) -> ctypes.Array[ctypes.c_char]:
    # si_signo, si_errno, si_code, (pad), si_pid, si_uid: what sigqueue(3) sends.
    head = struct.pack("iiiiII", sig, 0, SI_QUEUE, 0, os.getpid(), os.getuid())
    return ctypes.create_string_buffer(head, 128)


def _sibling_attempts(sib: int) -> list[Attempt]:
    info = _siginfo(signal.SIGCONT)

    def rlimit() -> str:
        resource.prlimit(sib, resource.RLIMIT_CORE, (0, 0))
        return "changed its RLIMIT_CORE"

    def affinity() -> str:
        os.sched_setaffinity(sib, os.sched_getaffinity(0))
        return "changed its CPU affinity"

    def scheduler() -> str:
        os.sched_setscheduler(sib, os.SCHED_BATCH, os.sched_param(0))
        return "changed its scheduling policy"

    def ioprio() -> str:
        _raw("ioprio_set", IOPRIO_WHO_PROCESS, sib, (2 << 13) | 7)
        return "changed its I/O priority"

    def renice_user() -> str:
        os.setpriority(os.PRIO_USER, os.getuid(), 19)  # lowering priority needs no privilege
        return "reniced every process of its user"

    return [
        attempt("signal_sibling", lambda: os.kill(sib, signal.SIGCONT)),
        attempt("tgkill_sibling", lambda: _raw("tgkill", sib, sib, signal.SIGCONT)),
        attempt("sigqueue_sibling", lambda: _raw("rt_sigqueueinfo", sib, signal.SIGCONT, info)),
        attempt(
            "tgsigqueue_sibling",
            lambda: _raw("rt_tgsigqueueinfo", sib, sib, signal.SIGCONT, info),
        ),
        attempt("prlimit_sibling", rlimit),
        attempt("setpriority_sibling", lambda: os.setpriority(os.PRIO_PROCESS, sib, 19)),
        attempt("setpriority_user", renice_user),
        attempt("sched_setaffinity_sibling", affinity),
        attempt("sched_setscheduler_sibling", scheduler),
        attempt("ioprio_set_sibling", ioprio),
    ]


def _pdeathsig() -> int:
    out = ctypes.c_int(0)
    _libc.prctl(PR_GET_PDEATHSIG, ctypes.byref(out), 0, 0, 0)
    return out.value


def _clear_pdeathsig() -> str:
    if _libc.prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0) != 0:
        _fail_with(ctypes.get_errno())
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # undo: it must not outlive us
    return "parent-death signal cleared (re-armed)"


def _open(path: str, flags: int) -> str:
    fd = os.open(path, flags)
    os.close(fd)
    return f"opened {path}"


def _read(path: str) -> str:
    with open(path, "rb") as f:
        f.read(1)
    return f"read {path}"


def _file_attempts(targets: dict[str, Any]) -> list[Attempt]:
    out = []
    if key := targets.get("worker_key"):
        out += [
            attempt("write_own_key", lambda: _open(key, os.O_WRONLY)),
            attempt("append_own_key", lambda: _open(key, os.O_WRONLY | os.O_APPEND)),
        ]
    if shared := targets.get("world_writable"):
        out += [
            attempt("append_world_writable", lambda: _open(shared, os.O_WRONLY | os.O_APPEND)),
            attempt("truncate_world_writable_open", lambda: _open(shared, os.O_RDWR | os.O_TRUNC)),
            attempt("truncate_world_writable", lambda: os.truncate(shared, 0)),
            attempt("setxattr_world_writable", lambda: os.setxattr(shared, "user.parkmesh", b"x")),
            attempt("set_times_world_writable", lambda: os.utime(shared, None)),
        ]
    state = targets.get("state_files") or {}
    for name in STATE_FILES:
        if path := state.get(name):
            out.append(attempt(f"read_{name}", functools.partial(_read, str(path))))
    if state_dir := targets.get("state_dir"):
        out.append(attempt("list_state_directory", lambda: os.listdir(state_dir)))
    out.append(attempt("read_system_file", lambda: _read("/etc/passwd")))
    return out


def try_reach(targets: dict[str, Any]) -> list[Attempt]:
    """Every attempt whose target is in `targets` (``sibling_pid``, ``worker_key``,
    ``world_writable``, ``state_files`` {ledger, uplink_store, config}, ``state_dir``)."""
    out = []
    if sib := targets.get("sibling_pid"):
        out += _sibling_attempts(int(sib))
    out.append(attempt("clear_parent_death_signal", _clear_pdeathsig))
    return out + _file_attempts(targets)


def controls(targets: dict[str, Any]) -> list[Attempt]:
    """What a confined worker must still do (``denied`` must be False for each)."""

    def signal_self() -> str:
        os.kill(os.getpid(), 0)
        signal.pthread_kill(threading.get_ident(), 0)  # tgkill(own pid, own tid)
        return "kill and tgkill of itself"

    def armed() -> str:
        if _pdeathsig() != signal.SIGKILL:
            _fail_with(errno.EPERM)
        return "parent-death signal still SIGKILL"

    def own_limits() -> str:
        resource.getrlimit(resource.RLIMIT_NOFILE)
        os.setpriority(os.PRIO_PROCESS, 0, os.getpriority(os.PRIO_PROCESS, 0))
        return "own limits and priority"

    def import_library() -> str:
        import importlib

        # Pure Python, not imported by the worker before, and readable by the worker user
        # also on a development machine whose standard library is not.
        importlib.import_module("idna")
        return "imported idna from site-packages"

    out = [
        attempt("signal_itself", signal_self),
        attempt("pdeathsig_still_armed", armed),
        attempt("own_limits_and_priority", own_limits),
        attempt("import_from_site_packages", import_library),
    ]
    if models := targets.get("models_dir"):
        out.append(attempt("list_models", lambda: os.listdir(models)))
    return out
