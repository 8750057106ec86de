"""Escape attempts a confined worker makes on itself for ``parkmesh selftest sandbox``.

Each attempt does one thing a compromised worker would want (reach the network, start a
program, read the supervisor's memory, ...) and reports whether the kernel refused it. An
attempt that succeeds is undone at once where that is possible (a forked child exits, an opened
socket is closed). Nothing here runs unless the supervisor asks for a self-test.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

Attempt = dict[str, Any]


def _nr(name: str) -> int:
    import pyseccomp as sc

    return int(sc.resolve_syscall(sc.system_arch(), name))


def _syscall(name: str, *args: int) -> tuple[int, int]:
    result = _libc.syscall(ctypes.c_long(_nr(name)), *(ctypes.c_long(a) for a in args))
    return int(result), ctypes.get_errno()


def _outcome(name: str, action: Callable[[], Any]) -> Attempt:
    try:
        detail = action()
    except OSError as exc:
        code = errno.errorcode.get(exc.errno or 0, str(exc.errno))
        return {"name": name, "denied": True, "detail": f"{code}: {exc.strerror}"}
    return {"name": name, "denied": False, "detail": f"succeeded: {detail}"}


def _check(name: str, rc_errno: tuple[int, int]) -> Attempt:
    rc, err = rc_errno
    if rc == -1:
        code = errno.errorcode.get(err, str(err))
        return {"name": name, "denied": True, "detail": f"{code}: {os.strerror(err)}"}
    return {"name": name, "denied": False, "detail": f"succeeded: returned {rc}"}


def _inet_socket(family: int) -> str:
    s = socket.socket(family, socket.SOCK_STREAM)
    s.close()
    return "socket created"


def _connect_unix(path: str) -> str:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    finally:
        s.close()
    return f"connected to {path}"


def _sendto_unix(path: str) -> str:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.sendto(b"parkmesh selftest", path)
    finally:
        s.close()
    return f"datagram sent to {path}"


def _fork() -> str:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return f"child {pid}"


def _exec() -> str:
    os.execv("/bin/true", ["/bin/true"])  # only returns by raising (denied)


def _write_outside(path: str) -> str:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    os.unlink(path)
    return f"created {path}"


def _read_memory(pid: int) -> str:
    with open(f"/proc/{pid}/mem", "rb") as f:
        f.read(1)
    return f"opened /proc/{pid}/mem"


def _ptrace(pid: int) -> tuple[int, int]:
    rc, err = _syscall("ptrace", 16, pid, 0, 0)  # PTRACE_ATTACH
    if rc == 0:
        _syscall("ptrace", 17, pid, 0, 0)  # PTRACE_DETACH
    return rc, err


def _process_vm_readv(pid: int) -> tuple[int, int]:
    buf = ctypes.create_string_buffer(8)
    local = (ctypes.c_void_p * 2)(ctypes.cast(buf, ctypes.c_void_p), 8)
    remote = (ctypes.c_void_p * 2)(0x400000, 8)
    return _syscall(
        "process_vm_readv", pid, ctypes.addressof(local), 1, ctypes.addressof(remote), 1, 0
    )


def _thread_works() -> str:
    box: list[int] = []
    t = threading.Thread(target=lambda: box.append(1))
    t.start()
    t.join()
    if box != [1]:
        raise RuntimeError("thread did not run")
    return "ok"


def try_escapes(targets: dict[str, Any]) -> tuple[list[Attempt], list[Attempt]]:
    """Run every attempt; `targets` may name a ``unix_socket`` path and a ``supervisor_pid``,
    and the targets of `sandbox.reach.try_reach` (a sibling, files, the daemon's state).

    Returns the attempts ``[{name, denied, detail}, ...]`` (each should be denied) and the
    controls (what must still work, such as starting a thread; ``denied`` should be False).
    """
    from sandbox.reach import controls, try_reach

    parent = int(targets.get("supervisor_pid") or os.getppid())
    unix_path = str(targets.get("unix_socket") or "/run/systemd/journal/socket")
    outside = f"/tmp/parkmesh-escape-{os.getpid()}"
    attempts = [
        _outcome("internet_socket_ipv4", lambda: _inet_socket(socket.AF_INET)),
        _outcome("internet_socket_ipv6", lambda: _inet_socket(socket.AF_INET6)),
        _outcome("connect_unix_socket", lambda: _connect_unix(unix_path)),
        _outcome("send_datagram_to_syslog", lambda: _sendto_unix("/dev/log")),
        _outcome("exec_program", _exec),
        _outcome("fork_process", _fork),
        _check("ptrace_supervisor", _ptrace(parent)),
        _outcome("write_outside_scratch", lambda: _write_outside(outside)),
        _outcome("read_supervisor_memory", lambda: _read_memory(parent)),
        _check("process_vm_readv_supervisor", _process_vm_readv(parent)),
        _outcome("signal_supervisor", lambda: os.kill(parent, 0)),
        _check("mount_tmpfs", _syscall("mount", 0, 0, 0, 0, 0)),
        _check("bpf", _syscall("bpf", 0, 0, 0)),
        _check("keyctl", _syscall("keyctl", 0, -3, 0)),  # KEYCTL_GET_KEYRING_ID, session
        _outcome("unshare_namespaces", lambda: _unshare()),
        _outcome("setuid_root", lambda: os.setuid(0)),
        _check("clone3_process", _syscall("clone3", 0, 0)),
        _check("io_uring_setup", _syscall("io_uring_setup", 1, 0)),
        _check("perf_event_open", _syscall("perf_event_open", 0, 0, -1, -1, 0)),
    ]
    attempts += try_reach(targets)
    control = _outcome("threads_still_work", _thread_works)
    return attempts, [control, *controls(targets)]


def _unshare() -> str:
    if _libc.unshare(0x00020000 | 0x40000000) != 0:  # CLONE_NEWNS | CLONE_NEWNET
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return "new namespaces"
