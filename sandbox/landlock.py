"""Landlock: the files a worker can open, for itself and every thread it starts later.

A worker sees, by path, only what `worker_rules` lists: the Python installation and the
project's code, the system's shared libraries, its models, its own key (read only), its scratch
directory (read and write), ``/proc`` (its own thread names are written there; the files of
processes outside its domain that ``ptrace`` rules guard are refused by Landlock itself),
``/sys/devices/system`` (CPU topology; all of ``/sys`` when an NVIDIA GPU is present, as the
driver walks it) and a few device nodes (``/dev/null``, ``/dev/urandom``, and ``/dev/nvidia*``
with ioctl when present). Everything else (the daemon's state, its configuration, the rest of
``/tmp``, other users' files) can be named and ``stat``-ed, but not opened, listed or changed;
TCP bind/connect is refused (ABI 4), and from ABI 6 the worker can neither signal nor reach the
abstract sockets of a process outside its domain (a sibling worker, the supervisor).

Landlock restricts the calling thread and the threads it starts afterwards, not threads that
already exist (``LANDLOCK_RESTRICT_SELF_TSYNC`` needs ABI 8). `restrict` therefore runs while
the worker is single-threaded, before torch is imported, and refuses otherwise.

Fail closed: a kernel without Landlock, or with an ABI below `MIN_ABI` (3, Linux 6.2: the first
that can refuse ``truncate``), makes `restrict` raise `LandlockError`, and the worker does not
start. The raw system calls are made through ctypes (x86_64 and arm64 numbers).
"""

from __future__ import annotations

import ctypes
import errno
import glob
import os
import platform
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

# System call numbers: the same on x86_64 and arm64 (the generic table).
_NR_CREATE_RULESET: Final = 444
_NR_ADD_RULE: Final = 445
_NR_RESTRICT_SELF: Final = 446
_CREATE_RULESET_VERSION: Final = 1
_RULE_PATH_BENEATH: Final = 1
_PR_SET_NO_NEW_PRIVS: Final = 38
MIN_ABI: Final = 3

# Filesystem rights, with the ABI that introduced each.
EXECUTE: Final = 1 << 0
WRITE_FILE: Final = 1 << 1
READ_FILE: Final = 1 << 2
READ_DIR: Final = 1 << 3
REMOVE_DIR: Final = 1 << 4
REMOVE_FILE: Final = 1 << 5
MAKE_CHAR: Final = 1 << 6
MAKE_DIR: Final = 1 << 7
MAKE_REG: Final = 1 << 8
MAKE_SOCK: Final = 1 << 9
MAKE_FIFO: Final = 1 << 10
MAKE_BLOCK: Final = 1 << 11
MAKE_SYM: Final = 1 << 12
REFER: Final = 1 << 13  # ABI 2
TRUNCATE: Final = 1 << 14  # ABI 3
IOCTL_DEV: Final = 1 << 15  # ABI 5
_FS_BY_ABI: Final = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
# Rights a rule on a file (not a directory) may carry.
FILE_RIGHTS: Final = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
# Network (ABI 4) and scopes (ABI 6).
_NET_BIND_TCP: Final = 1
_NET_CONNECT_TCP: Final = 2
_SCOPE_ABSTRACT_UNIX_SOCKET: Final = 1
_SCOPE_SIGNAL: Final = 2

READ: Final = READ_FILE | READ_DIR
SCRATCH: Final = (
    READ | WRITE_FILE | TRUNCATE | REMOVE_FILE | REMOVE_DIR | MAKE_REG | MAKE_DIR | REFER
)
DEVICE: Final = READ_FILE | WRITE_FILE | IOCTL_DEV

SYSTEM_LIBRARIES: Final = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class LandlockError(Exception):
    """Landlock cannot confine this worker (kernel without it, ABI too old, a rule refused,
    or threads already running); the message names the reason. The worker does not start."""


@dataclass(frozen=True, slots=True)
class Rule:
    """`access` (Landlock rights) granted beneath `path` (or on it, for a file)."""

    path: str
    access: int
    why: str


class _RulesetAttr(ctypes.Structure):
    _fields_ = (
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    )


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


def _syscall(nr: int, *args: object) -> int:
    # Plain ints would travel as 32-bit C ints through the variadic call.
    wide = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    return int(_libc.syscall(ctypes.c_long(nr), *wide))


def _errno_text(err: int) -> str:
    return f"{errno.errorcode.get(err, str(err))}: {os.strerror(err)}"


def abi_version() -> tuple[int, str]:
    """The kernel's Landlock ABI (0 when it has none) and, for 0, why."""
    if platform.machine() not in ("x86_64", "aarch64"):
        return 0, f"system call numbers unknown on {platform.machine()}"
    abi = _syscall(_NR_CREATE_RULESET, None, 0, _CREATE_RULESET_VERSION)
    if abi < 0:
        err = ctypes.get_errno()
        hint = " (not in the kernel's lsm= list)" if err == errno.EOPNOTSUPP else ""
        return 0, f"Landlock unavailable: {_errno_text(err)}{hint}"
    return abi, ""


def handled_fs(abi: int) -> int:
    """Every filesystem right the kernel's ABI knows (all of them are refused unless granted)."""
    return _FS_BY_ABI[max(k for k in _FS_BY_ABI if k <= abi)]


def nvidia_devices() -> list[str]:
    """The NVIDIA device nodes present (``/dev/nvidiactl``, ``/dev/nvidia0``, ``-uvm``, ...)."""
    return sorted(glob.glob("/dev/nvidia*"))


def python_roots(prefixes: Iterable[str], path_entries: Iterable[str]) -> list[str]:
    """The directories the interpreter imports from: its prefixes and every ``sys.path``
    directory, real paths, without ``/`` (``python -m`` puts the working directory, ``/``,
    on ``sys.path``; granting it would grant everything)."""
    out: dict[str, None] = {}
    for entry in [*prefixes, *path_entries]:
        if not entry or not os.path.isdir(entry):
            continue
        for path in (os.path.abspath(entry), os.path.realpath(entry)):
            if path != os.sep:
                out[path] = None
    return list(out)


def worker_rules(
    *,
    python: Sequence[str],
    models_dir: Path,
    worker_key: Path,
    scratch: Path,
    devices: Sequence[str] = (),
) -> list[Rule]:
    """What a worker may open (see the module docstring); `devices` are the NVIDIA nodes."""
    rules = [Rule(p, READ, "Python installation and project code") for p in python]
    rules += [Rule(p, READ, "shared libraries") for p in SYSTEM_LIBRARIES]
    rules += [
        Rule("/etc/ld.so.cache", READ_FILE, "library look-up"),
        Rule(str(models_dir), READ, "models"),
        Rule(str(worker_key), READ_FILE, "its HPKE key, read only"),
        Rule(str(scratch), SCRATCH, "scratch"),
        Rule("/proc", READ | WRITE_FILE, "own process information and thread names"),
        Rule("/sys" if devices else "/sys/devices/system", READ, "CPU topology and devices"),
        Rule("/dev/null", READ_FILE | WRITE_FILE, "null device"),
        Rule("/dev/urandom", READ_FILE, "random numbers"),
        Rule("/dev/random", READ_FILE, "random numbers"),
    ]
    rules += [Rule(d, DEVICE | READ_DIR, "GPU") for d in devices]
    return rules


def _add_rule(ruleset: int, rule: Rule, handled: int) -> str | None:
    """Add `rule`; returns a note for a path that does not exist (nothing to grant)."""
    try:
        fd = os.open(rule.path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return rule.path
    except OSError as exc:
        raise LandlockError(f"cannot open {rule.path} for a rule: {exc.strerror}") from None
    try:
        access = rule.access & handled
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            access &= FILE_RIGHTS
        attr = _PathBeneathAttr(access, fd)
        if _syscall(_NR_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(attr), 0) < 0:
            err = ctypes.get_errno()
            raise LandlockError(f"rule for {rule.path} refused: {_errno_text(err)}")
    finally:
        os.close(fd)
    return None


def restrict(rules: Sequence[Rule]) -> str:
    """Enforce `rules` on this (single-threaded) process for good; returns the step's detail.

    Sets ``no_new_privs`` first (Landlock requires it without CAP_SYS_ADMIN; nothing is
    executed afterwards anyway).

    Raises:
        LandlockError: no Landlock or ABI below `MIN_ABI` (fail closed), more than one thread
            running, or the kernel refused the ruleset, a rule or the restriction.
    """
    abi, why = abi_version()
    if abi < MIN_ABI:
        raise LandlockError(
            why or f"Landlock ABI {abi} is too old (need {MIN_ABI}, Linux 6.2, to refuse truncate)"
        )
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:
        raise LandlockError(f"{threads} threads running: Landlock would not cover the others")
    handled = handled_fs(abi)
    attr = _RulesetAttr(handled, _NET_BIND_TCP | _NET_CONNECT_TCP if abi >= 4 else 0, 0)
    size = 8
    if abi >= 4:
        size = 16
    if abi >= 6:
        attr.scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL
        size = 24
    ruleset = _syscall(_NR_CREATE_RULESET, ctypes.byref(attr), size, 0)
    if ruleset < 0:
        raise LandlockError(f"ruleset refused: {_errno_text(ctypes.get_errno())}")
    try:
        missing = [m for rule in rules if (m := _add_rule(ruleset, rule, handled)) is not None]
        if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise LandlockError(f"no_new_privs refused: {_errno_text(ctypes.get_errno())}")
        if _syscall(_NR_RESTRICT_SELF, ruleset, 0) < 0:
            raise LandlockError(f"restriction refused: {_errno_text(ctypes.get_errno())}")
    finally:
        os.close(ruleset)
    scopes = "; signals and abstract sockets scoped to itself" if abi >= 6 else ""
    tcp = "; TCP bind/connect refused" if abi >= 4 else ""
    absent = f"; absent: {', '.join(missing)}" if missing else ""
    return f"ABI {abi}, {len(rules) - len(missing)} paths visible{tcp}{scopes}{absent}"
