"""Model code, verification and loading for the inference workers.

Public surface (stable; see docs/models.md):

- `load_model(name, models_dir, device, operator_public_key) -> LoadedModel` and
  `list_models(models_dir)` in `sandbox.models.registry`;
- `LoadedModel` (``encode``, ``generate``, ``generate_batch``, ``complete_batch``, ``warmup``) in
  `sandbox.models.runtime`;
- `provision_models(models_dir)` in `sandbox.models.provision`;
- the errors `ModelError`, `ManifestError`, `UnknownModelError`, `RequestError`.

Importing this package does not import torch; loading a model does.
"""

from __future__ import annotations

from sandbox.models.errors import ManifestError as ManifestError
from sandbox.models.errors import ModelError as ModelError
from sandbox.models.errors import RequestError as RequestError
from sandbox.models.errors import UnknownModelError as UnknownModelError
from sandbox.models.registry import list_models as list_models
from sandbox.models.registry import load_model as load_model
