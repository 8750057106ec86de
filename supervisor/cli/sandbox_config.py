"""The ``[sandbox]`` settings of a command (infer, bench, selftest), and its development node.

Commands take ``--config FILE``. Without one they read ``/etc/parkmesh/parkmesh.toml`` when it
exists, and otherwise use a development node under `DEV_BASE` that they provision on first use
(worker user, worker key, signed development models), so that ``parkmesh infer`` works on a
fresh checkout. A configured node is never provisioned implicitly.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from sandbox.config import SandboxConfig

DEV_BASE = Path("/var/tmp/parkmesh-dev")


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """``--config FILE`` as every sandbox command takes it."""
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="configuration file (default: /etc/parkmesh/parkmesh.toml if it "
        f"exists, else a development node in {DEV_BASE})",
    )


def dev_config(base: Path = DEV_BASE) -> SandboxConfig:
    """The development node's settings (everything under `base`)."""
    return SandboxConfig(
        models_dir=base / "models",
        worker_key=base / "sandbox" / "worker.key",
        scratch_dir=base / "sandbox" / "scratch",
    )


def load_sandbox_config(
    path: Path | None, *, models: tuple[str, ...] | None = None, **overrides: Any
) -> SandboxConfig:
    """The ``[sandbox]`` section for a command, provisioning the development node if needed.

    Raises:
        ConfigError: the file is invalid.
        NodeSetupError: the development node cannot be provisioned (not root).
    """
    from sandbox.node import provision
    from supervisor.config.load import config_file, load_config

    path = config_file(path)
    if path is not None:
        config = load_config(path).sandbox
    else:
        config = dev_config()
        if not (config.worker_key.exists() and (config.models_dir / "operator-dev.pub").exists()):
            print(f"parkmesh: provisioning a development node in {DEV_BASE}", file=sys.stderr)
            DEV_BASE.mkdir(parents=True, exist_ok=True)
            DEV_BASE.chmod(0o755)
            provision(config)
    if models is not None:
        overrides["models"] = models
    return dataclasses.replace(config, **overrides)


def fail(message: str) -> int:
    """Print an error for the command line and return exit status 2."""
    print(f"parkmesh: {message}", file=sys.stderr)
    return 2
