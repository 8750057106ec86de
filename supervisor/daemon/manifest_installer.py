"""The manifest installer: verifies and installs the operator's signed model manifests.

`submit` checks a manifest's signature and model name at once (a small file), so that a
forged manifest is refused to the dispatcher on the spot; `run` then hashes every pinned file
in a thread of its own (gigabytes on a big model, so never in the ledger writer's way) before
the new manifest replaces the old one. Workers load it at their next start.
`check_models_provisioned` is the start-up check that every configured model has one.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import trio

from sandbox.models.errors import ManifestError
from sandbox.models.manifest import MANIFEST_NAME, load_manifest, verify_files
from supervisor.config.errors import ConfigError

LOG = logging.getLogger("parkmesh.jobs")

# Manifest installs waiting for the installer thread (each hashes a whole model).
INSTALL_BUFFER = 8

Install = Callable[[], None]


class ManifestInstaller:
    """Installs manifests for the models in `models` (a folder each under `models_dir`),
    signed by `operator_key`, one at a time."""

    def __init__(
        self, models_dir: Path, models: tuple[str, ...] | list[str], operator_key: bytes
    ) -> None:
        self.models_dir = models_dir
        self.models = tuple(models)
        self.operator_key = operator_key
        self._send, self._receive = trio.open_memory_channel[tuple[Install, str]](INSTALL_BUFFER)

    def submit(self, name: str, document: bytes) -> None:
        """Check a manifest for model `name` now and queue its install.

        Raises:
            ManifestError: the model is not one this car runs, the signature or the document
                does not verify, or `INSTALL_BUFFER` installs are already waiting.
        """
        if name not in self.models:
            raise ManifestError(f"model {name!r} is not one this car runs")
        model_dir = self.models_dir / name
        staging = Path(tempfile.mkdtemp(dir=self.models_dir))
        staged = staging / name
        staged.mkdir()
        (staged / MANIFEST_NAME).write_bytes(document)
        try:
            manifest = load_manifest(staged, self.operator_key)
        except ManifestError:
            shutil.rmtree(staging, ignore_errors=True)
            raise

        def install() -> None:
            try:
                verify_files(model_dir, manifest)
                os.replace(staged / MANIFEST_NAME, model_dir / MANIFEST_NAME)
                LOG.info("model manifest for %s updated", name)
            finally:
                shutil.rmtree(staging, ignore_errors=True)

        try:
            self._send.send_nowait((install, f"manifest update for {name}"))
        except trio.WouldBlock:
            shutil.rmtree(staging, ignore_errors=True)
            raise ManifestError(
                f"{INSTALL_BUFFER} manifest updates are already waiting; try again later"
            ) from None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Install queued manifests one at a time until cancelled; an install that fails (a
        pinned file does not match) is logged and leaves the old manifest.

        Cancellation: an install in progress is abandoned (its thread finishes on its own; the
        old manifest stays until the atomic replacement); queued ones are dropped.
        """
        task_status.started()
        async for install, what in self._receive:
            try:
                await trio.to_thread.run_sync(install, abandon_on_cancel=True)
            except Exception as exc:
                LOG.error("%s failed: %s", what, exc)


def check_models_provisioned(models_dir: Path, models: Sequence[str]) -> None:
    """Every configured model must have a manifest in the models folder (checked before the
    daemon starts anything, so that `parkmesh check-config` says it too).

    Raises:
        ConfigError: naming ``sandbox.models`` and the missing model.
    """
    for name in models:
        if not (models_dir / name / MANIFEST_NAME).is_file():
            raise ConfigError(
                f"model {name!r} is not provisioned in {models_dir} (no {MANIFEST_NAME}; "
                f"python -m sandbox.models.provision {models_dir} provisions the shipped ones)",
                key="sandbox.models",
            )
