"""The one exception family of the model layer, so callers can tell a bad model from a bug."""

from __future__ import annotations


class ModelError(Exception):
    """A model cannot be provisioned, verified, loaded or run as asked.

    The message names the model, the file and what is wrong; the worker reports it to the
    supervisor verbatim (it never contains job data).
    """


class ManifestError(ModelError):
    """A model manifest or a file it pins fails verification.

    Raised for a bad signature, a malformed manifest, a missing file, a wrong size or SHA-256
    digest, or a weight file that is not safetensors. The model is refused; nothing of it is
    loaded.
    """


class UnknownModelError(ModelError):
    """The models directory holds no model of the requested name."""


class RequestError(ModelError):
    """A job's input or parameters do not suit the model (empty input, too long, bad sampling
    parameters, wrong kind of job for the model). The job fails; the model stays loaded."""


class CheckpointError(ModelError):
    """A checkpoint directory cannot be imported as it is: pickle weights, a missing file, an
    index that names a missing shard or tensor, a truncated shard, an unsupported family or
    setting. Nothing is installed; the message names the file or key."""
