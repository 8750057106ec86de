"""The worker's seccomp policy: which system calls it may no longer make once it serves.

A deny list (default allow), installed on every thread at once (TSYNC) after the weights are
loaded: nothing a CUDA or torch runtime needs is refused, and nothing is killed (a benign
unexpected call must not kill a warm worker), every denial is ``EPERM`` unless noted.

Calls that name another process are limited to the worker itself: ``kill``,
``tgkill``, ``rt_sigqueueinfo`` and ``rt_tgsigqueueinfo`` only to its own pid (Python and torch
signal themselves); ``prlimit64``, ``sched_setaffinity``, ``sched_setscheduler``,
``sched_setparam``, ``sched_setattr``, ``migrate_pages``, ``move_pages`` and
``get_robust_list`` only with pid 0 (the caller); ``setpriority`` and ``ioprio_set`` only for
``PRIO_PROCESS`` / ``IOPRIO_WHO_PROCESS`` with who 0 (never a whole user: the sibling workers
run as the same one). ``prctl`` may no longer change the parent-death signal (it would outlive
the supervisor), dumpability or the Yama ptracer.
"""

from __future__ import annotations

import errno
import os
import socket
from typing import Any, Final

from sandbox.confine import CLONE_THREAD, O_CREAT, O_TMPFILE_BIT, Step

O_TRUNC: Final = 0o1000
PR_SET_PDEATHSIG: Final = 1
PR_SET_DUMPABLE: Final = 4
PR_SET_PTRACER: Final = 0x59616D61
PRIO_PROCESS: Final = 0
IOPRIO_WHO_PROCESS: Final = 1
_INT: Final = 0xFFFFFFFF  # the kernel reads these arguments as a C int: compare 32 bits

# Denied outright with EPERM once the worker serves. Names unknown on this architecture (fork
# and open on arm64, say) are skipped: they cannot be called there.
# fmt: off
SECCOMP_DENY: Final = (
    # new programs and processes (clone is allowed with thread flags only, below)
    "execve", "execveat", "fork", "vfork",
    # other processes' memory and signals
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_open", "pidfd_getfd",
    "pidfd_send_signal", "process_madvise", "process_mrelease", "kcmp", "tkill",
    # file systems and namespaces
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",
    "fsconfig", "fsmount", "fspick", "mount_setattr", "unshare", "setns",
    # privileges
    "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid",
    "setfsgid", "setgroups", "capset",
    # kernel surfaces an inference worker never needs
    "bpf", "keyctl", "add_key", "request_key", "perf_event_open", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "kexec_load", "kexec_file_load",
    "init_module", "finit_module", "delete_module", "open_by_handle_at", "name_to_handle_at",
    "iopl", "ioperm", "swapon", "swapoff", "reboot", "acct", "quotactl", "syslog",
    "fanotify_init", "fanotify_mark", "inotify_add_watch",
    # talking to anybody but the supervisor: no connect/bind/listen/accept, no addressed sends
    "connect", "bind", "listen", "accept", "accept4", "sendmsg", "sendmmsg",
    # creating or changing files (nothing is written after start-up; the scratch dir is for
    # the libraries' start-up only). Landlock cannot refuse xattrs and times: these are here.
    "creat", "mknod", "mknodat", "link", "linkat", "symlink", "symlinkat", "rename",
    "renameat", "renameat2", "unlink", "unlinkat", "rmdir", "mkdir", "mkdirat", "chmod",
    "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat", "truncate",
    "setxattr", "lsetxattr", "fsetxattr", "setxattrat", "removexattr", "lremovexattr",
    "fremovexattr", "removexattrat", "file_setattr", "utime", "utimes", "utimensat", "futimesat",
)
# fmt: on
# Newer than some libseccomp releases know by name; the numbers are the same on every
# architecture (the common table, from Linux 5.1 on).
NUMBERS: Final = {"setxattrat": 463, "removexattrat": 466, "file_setattr": 469}
# Answered with ENOSYS so the C library falls back to a call the filter can inspect.
SECCOMP_ENOSYS: Final = ("clone3", "openat2")
# Allowed only with pid (argument 0) 0: the calling thread.
ONLY_SELF_BY_ZERO: Final = (
    "prlimit64",
    "sched_setaffinity",
    "sched_setscheduler",
    "sched_setparam",
    "sched_setattr",
    "migrate_pages",
    "move_pages",
    "get_robust_list",
)
# Allowed only with the worker's own pid as argument 0 (the thread group).
ONLY_SELF_BY_PID: Final = ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo")


def _add_conditional(sc: Any, f: Any, known: Any, pid: int) -> None:
    eperm = sc.ERRNO(errno.EPERM)
    f.add_rule(eperm, "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_THREAD, 0))
    f.add_rule(eperm, "socket", sc.Arg(0, sc.NE, socket.AF_UNIX))
    for name, flags in (("open", 1), ("openat", 2)):
        if known(name):
            for bit in (O_CREAT, O_TMPFILE_BIT, O_TRUNC):
                f.add_rule(eperm, name, sc.Arg(flags, sc.MASKED_EQ, bit, bit))
    for name in ONLY_SELF_BY_PID:
        f.add_rule(eperm, name, sc.Arg(0, sc.NE, pid))
    for name in ONLY_SELF_BY_ZERO:
        if known(name):
            f.add_rule(eperm, name, sc.Arg(0, sc.NE, 0))
    f.add_rule(eperm, "setpriority", sc.Arg(0, sc.NE, PRIO_PROCESS))
    f.add_rule(eperm, "setpriority", sc.Arg(1, sc.NE, 0))
    f.add_rule(eperm, "ioprio_set", sc.Arg(0, sc.NE, IOPRIO_WHO_PROCESS))
    f.add_rule(eperm, "ioprio_set", sc.Arg(1, sc.NE, 0))
    # An equality on an int argument must ignore the upper half, which the kernel drops.
    for option in (PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_PTRACER):
        f.add_rule(eperm, "prctl", sc.Arg(0, sc.MASKED_EQ, _INT, option))
    f.add_rule(eperm, "sendto", sc.Arg(4, sc.NE, 0))


def install_seccomp() -> Step:
    """Install the policy (module docstring) on every thread (TSYNC). Call after the weights
    are loaded; the filter cannot be removed. A kernel or library that refuses it gives a
    step with ``applied=False`` and the reason (the worker's status then says unconfined).

    Unconditional denials are `SECCOMP_DENY` (EPERM) and `SECCOMP_ENOSYS` (ENOSYS). Also
    EPERM: ``clone`` without CLONE_THREAD, ``socket`` of any family but AF_UNIX,
    ``open``/``openat`` creating or truncating a file (O_CREAT, O_TMPFILE, O_TRUNC), addressed
    ``sendto``, and the calls on other processes listed in the module docstring.
    """
    try:
        import pyseccomp as sc
    except (ImportError, RuntimeError) as exc:
        return Step("seccomp", False, f"libseccomp unavailable: {exc}")
    arch = sc.system_arch()
    skipped: list[str] = []

    def known(name: str) -> bool:
        try:
            ok = int(sc.resolve_syscall(arch, name)) >= 0
        except (OSError, ValueError):
            ok = False
        if not ok and name not in NUMBERS:
            skipped.append(name)
        return ok

    try:
        f = sc.SyscallFilter(sc.ALLOW)
        f.set_attr(sc.Attr.CTL_TSYNC, 1)
        for name in SECCOMP_DENY:
            if known(name):
                f.add_rule(sc.ERRNO(errno.EPERM), name)
            elif name in NUMBERS:
                f.add_rule(sc.ERRNO(errno.EPERM), NUMBERS[name])
        for name in SECCOMP_ENOSYS:
            if known(name):
                f.add_rule(sc.ERRNO(errno.ENOSYS), name)
        _add_conditional(sc, f, known, os.getpid())
        f.load()
    except OSError as exc:
        return Step("seccomp", False, f"refused by the kernel: {exc}")
    note = f"; not on this architecture: {', '.join(sorted(set(skipped)))}" if skipped else ""
    limited = len(ONLY_SELF_BY_PID) + len(ONLY_SELF_BY_ZERO) + 2
    return Step(
        "seccomp",
        True,
        f"deny-list with TSYNC, {len(SECCOMP_DENY)} calls denied, {limited} limited to the "
        f"worker itself{note}",
    )
