#!/usr/bin/env bash
# Sets up a development checkout on a fresh Debian machine with Python 3.11:
# system packages (mosquitto, dbus, libseccomp) and a virtual environment in .venv
# with parkmesh installed in editable mode. Safe to run again; it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# System packages the daemon and its tests start for real.
need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v dbus-daemon >/dev/null 2>&1 || need+=(dbus-daemon)
[ -e /usr/lib/x86_64-linux-gnu/libseccomp.so.2 ] || [ -e /usr/lib/aarch64-linux-gnu/libseccomp.so.2 ] \
    || ldconfig -p 2>/dev/null | grep -q libseccomp.so.2 || need+=(libseccomp2)
command -v tmux >/dev/null 2>&1 || need+=(tmux)
# The package's test verifies and rates its unit, and its maintainer scripts apply sysusers.d
# and tmpfiles.d (tests/packaging/test_deb.py).
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
if [ ${#need[@]} -gt 0 ]; then
    echo "dev-setup: installing ${need[*]}" >&2
    $SUDO apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
# torch first and pinned: this machine image carries a CPU build of exactly this version, while an
# unpinned requirement would download a multi-GB CUDA build.
if ! .venv/bin/python -c 'import torch, sys; sys.exit(torch.__version__.split("+")[0] != "2.13.0")' 2>/dev/null; then
    .venv/bin/python -m pip install -q torch==2.13.0
fi
.venv/bin/python -m pip install -q -e '.[dev]' 2>&1 | grep -v "^WARNING: Location" >&2 || true
.venv/bin/python -c 'import supervisor, sandbox, thermal, uplink, tui' 
echo "dev-setup: ready (.venv)" >&2
