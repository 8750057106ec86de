"""Confinement steps a worker applies to itself, in order, each reported and never skipped silently.

1. `check_descriptors`: only stdin/stdout/stderr, the socket and the stop page are open (the
   pool starts the worker with ``close_fds`` and ``pass_fds``, a clean environment and
   ``/dev/null`` for stdin and stdout).
2. `set_parent_death_signal`: SIGKILL when the supervisor dies (set again after the uid drop,
   because changing credentials clears it; the seccomp filter then forbids changing it).
3. `limit_core_dumps`: a crash must not write job data to disk.
4. `new_network_namespace`: only a down loopback, no route out, and a private System V IPC
   namespace (as root directly; otherwise in a new user namespace where the kernel allows
   unprivileged ones).
5. Landlock (`sandbox.landlock`, while still single-threaded): only the Python installation,
   the models, the key (read only), scratch and a few system paths can be opened.
6. `drop_user`: to the worker user, with no supplementary groups.
7. `check_readable`: the model's files are readable by the worker user itself; a file that
   is not fails the start with its path and the user named, rather than a job later.
8. (the worker loads torch, the weights and its key, and warms up)
9. `sandbox.syscalls.install_seccomp`: a deny-list filter with thread sync.

Each step returns a `Step`; a step the kernel refuses has ``applied=False`` and its errno in
``detail``, and the worker reports it in its status (Landlock instead fails the start: see
`sandbox.landlock`).
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import signal
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

PR_SET_PDEATHSIG: Final = 1
PR_SET_KEEPCAPS: Final = 8
CAP_DAC_READ_SEARCH: Final = 2
CLONE_NEWNET: Final = 0x40000000
CLONE_NEWUSER: Final = 0x10000000
CLONE_NEWIPC: Final = 0x08000000
CLONE_THREAD: Final = 0x00010000
O_CREAT: Final = 0o100
O_TMPFILE_BIT: Final = 0o20000000

_libc = ctypes.CDLL(None, use_errno=True)


@dataclass(frozen=True, slots=True)
class Step:
    """The outcome of one confinement step."""

    name: str
    applied: bool
    detail: str

    def to_wire(self) -> dict[str, object]:
        """The step as it travels in the worker's status."""
        return {"name": self.name, "applied": self.applied, "detail": self.detail}


def _errno_text(err: int) -> str:
    return f"{errno.errorcode.get(err, str(err))}: {os.strerror(err)}"


def check_descriptors(allowed: set[int]) -> Step:
    """Report whether any descriptor beyond `allowed` (or a duplicate of one: `mmap` keeps its
    own copy of the page's memfd) is open; the pool's ``close_fds`` should prevent it."""

    def target(fd: int) -> str:
        try:
            return os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return ""  # the descriptor listdir itself used, closed by now

    known = {target(fd) for fd in allowed}
    extra = sorted(
        fd
        for fd in (int(n) for n in os.listdir("/proc/self/fd"))
        if fd not in allowed and target(fd) not in known and target(fd)
    )
    if extra:
        return Step("descriptors", False, f"unexpected open descriptors {extra}")
    return Step("descriptors", True, f"only {sorted(allowed)} open; clean environment")


def set_parent_death_signal(expected_parent: int) -> Step:
    """Ask for SIGKILL when the parent dies; exit at once if it already died."""
    if _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return Step("pdeathsig", False, _errno_text(ctypes.get_errno()))
    if os.getppid() != expected_parent:
        os._exit(1)  # the supervisor died before the signal was armed
    return Step("pdeathsig", True, "SIGKILL when the supervisor dies")


def limit_core_dumps() -> Step:
    """No core files: a crash dump would hold job plaintext."""
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (OSError, ValueError) as exc:
        return Step("no_core_dumps", False, str(exc))
    return Step("no_core_dumps", True, "RLIMIT_CORE 0")


def new_network_namespace() -> Step:
    """Move into fresh network and IPC namespaces (must run before any thread is started): no
    route out, and no System V shared memory, semaphores or queues shared with a sibling."""
    if _libc.unshare(CLONE_NEWNET | CLONE_NEWIPC) == 0:
        return Step("netns", True, "new network and IPC namespaces (as root)")
    first = ctypes.get_errno()
    if _libc.unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWIPC) == 0:
        return Step("netns", True, "new user, network and IPC namespaces (unprivileged)")
    second = ctypes.get_errno()
    return Step(
        "netns",
        False,
        f"refused: CLONE_NEWNET|CLONE_NEWIPC {_errno_text(first)}; with CLONE_NEWUSER"
        f" {_errno_text(second)}",
    )


def readable_by(path: str, uid: int, gid: int) -> bool:
    """Whether `uid`:`gid` can reach and read `path` by its mode bits (no ACLs considered)."""
    parts = os.path.abspath(path).split(os.sep)
    for i in range(1, len(parts) + 1):
        current = os.sep + os.path.join(*parts[1:i]) if i > 1 else os.sep
        try:
            st = os.stat(current)
        except OSError:
            return False
        need = 0o5 if i == len(parts) else 0o1
        bits = (
            (st.st_mode >> 6) & 7
            if st.st_uid == uid
            else ((st.st_mode >> 3) & 7 if st.st_gid == gid else st.st_mode & 7)
        )
        if bits & need != need:
            return False
    return True


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


def _set_capabilities(mask: int, permitted: int | None = None) -> int:
    """Make `mask` the effective set and `permitted` (default: `mask`) the permitted one (0
    drops everything); returns errno or 0."""
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    allowed = mask if permitted is None else permitted
    data = (_CapData * 2)(_CapData(mask, allowed, 0), _CapData(0, 0, 0))
    if _libc.capset(ctypes.byref(header), data) != 0:
        return ctypes.get_errno()
    return 0


def drop_user(uid: int, gid: int, expected_parent: int, *, keep_read_search: bool) -> list[Step]:
    """Become `uid`:`gid` for good, then re-arm the parent-death signal (the change cleared it).

    With `keep_read_search` (the interpreter's files are not readable by `uid`, as when Python
    lives under /root on a development machine), CAP_DAC_READ_SEARCH alone is kept so the
    libraries can still import lazily while the model loads; `drop_capabilities` removes it
    before the seccomp filter, and the step says so.
    """
    if os.geteuid() != 0:
        return [Step("user", False, f"not started as root; stays uid {os.geteuid()}")]
    try:
        if keep_read_search:
            _libc.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0)
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    except OSError as exc:
        return [Step("user", False, f"cannot drop to {uid}:{gid}: {exc.strerror}")]
    detail = f"uid {uid} gid {gid}, no supplementary groups"
    if keep_read_search:
        _libc.prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0)
        err = _set_capabilities(1 << CAP_DAC_READ_SEARCH)
        if err:
            return [Step("user", False, f"cannot keep CAP_DAC_READ_SEARCH: {_errno_text(err)}")]
        detail += "; CAP_DAC_READ_SEARCH kept until the weights are loaded (interpreter unreadable)"
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:  # pragma: no cover - would mean the drop is reversible
        return [Step("user", False, "uid 0 could be regained after the drop")]
    rearmed = set_parent_death_signal(expected_parent)
    return [
        Step("user", True, detail),
        Step("pdeathsig_after_drop", rearmed.applied, rearmed.detail),
    ]


class UnreadableError(Exception):
    """A file the worker needs cannot be read by the worker user (the message names the path,
    the user and the system's reason). Raised at start, so the failure is the node's, named."""


def _effective_capabilities() -> int:
    with open("/proc/self/status") as f:
        eff = next((line.split()[1] for line in f if line.startswith("CapEff:")), "0")
    return int(eff, 16)


@contextmanager
def _as_the_user_alone() -> Iterator[None]:
    """Suspend CAP_DAC_READ_SEARCH (kept by `drop_user` while the interpreter is unreadable)
    for the block, so that an access check sees what the user alone may read."""
    kept = os.geteuid() != 0 and _effective_capabilities() & (1 << CAP_DAC_READ_SEARCH)
    if kept:
        _set_capabilities(0, 1 << CAP_DAC_READ_SEARCH)
    try:
        yield
    finally:
        if kept:
            _set_capabilities(1 << CAP_DAC_READ_SEARCH)


def check_readable(paths: Iterable[Path], *, recursive: Iterable[Path] = ()) -> Step:
    """Check, as the worker user, that each of `paths` can be opened (a file) or listed and
    searched (a directory), and every file below each of `recursive`.

    Nothing is read beyond opening: the weights are large.

    Raises:
        UnreadableError: for the first path that cannot be opened, naming it and the user.
    """
    user = f"uid {os.geteuid()} gid {os.getegid()}"
    checked = 0

    def check(path: Path, walk: bool) -> None:
        nonlocal checked
        try:
            if path.is_dir():
                entries = sorted(os.scandir(path), key=lambda e: e.name)  # needs read
                os.stat(path / ".")  # needs search (to open what is inside)
                if walk:
                    for entry in entries:
                        check(Path(entry.path), True)
            else:
                with open(path, "rb"):
                    pass
        except OSError as exc:
            why = exc.strerror or type(exc).__name__
            raise UnreadableError(f"the worker user ({user}) cannot read {path}: {why}") from None
        checked += 1

    with _as_the_user_alone():
        for path in paths:
            check(Path(path), False)
        for path in recursive:
            check(Path(path), True)
    return Step("files", True, f"{checked} paths readable by {user}")


def unreadable_import_roots(paths: Iterable[str]) -> list[str]:
    """The entries of `paths` (``sys.path``) the current user cannot list: the reason an import
    fails once the interpreter's directories are out of reach."""
    out = []
    with _as_the_user_alone():
        for entry in paths:
            if entry and os.path.isdir(entry) and not os.access(entry, os.R_OK | os.X_OK):
                out.append(entry)
    return out


def drop_capabilities() -> Step:
    """Clear every capability (a no-op after a plain uid drop, which already cleared them)."""
    err = _set_capabilities(0)
    if err:
        return Step("capabilities", False, _errno_text(err))
    with open("/proc/self/status") as f:
        eff = next((line.split()[1] for line in f if line.startswith("CapEff:")), "?")
    return Step("capabilities", eff.strip("0") == "", f"CapEff {eff}")
