"""Applying a re-read configuration to the running daemon (``systemctl reload``, SIGHUP).

What can change while the daemon runs, without a restart:

- ``daemon.log_level``: the root logger's level, at once;
- ``[budget]`` except ``device_temperature``: the limits, the temperature thresholds, the
  curtailment fractions and the evaluation interval; the budget is re-evaluated at once, and
  its latches (a temperature stop, the floor) stay as they were, so a reload never admits
  compute that the old limits had stopped unless the new ones really allow it;
- the uplink's timing: ``keepalive_s`` (from the next connection), ``reconnect_min_s``,
  ``reconnect_max_s``, ``status_min_interval_s``, ``rtt_interval_s``, ``result_ttl_s`` and
  ``answer_ttl_s``.

Everything else (the vehicle source, the policy, the sandbox, the API bus, the broker and the
car's identity, ...) is wired into services at start-up; a change there is reported by key and
waits for ``systemctl restart parkmesh``. The running configuration keeps the old values of
those keys, so the next reload reports them again until the daemon restarts.

`apply_reload` is synchronous and quick, but must run on the daemon's trio thread (the budget
re-evaluates at once, by trio's clock). `reload_file` loads and checks the daemon's file, then
applies it: the SIGHUP handler and the API's ``ReloadConfig`` both call it; a file that does not
load changes nothing (`ConfigError`, naming the file and line; the daemon carries on).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from supervisor.config.check import check_config
from supervisor.config.errors import ConfigError
from supervisor.config.load import load_config
from supervisor.config.schema import Config
from thermal.config import BudgetConfig
from thermal.service import BudgetService
from uplink.config import UplinkConfig
from uplink.node import NodeUplink

LOG = logging.getLogger("parkmesh")

# Uplink keys that are read afresh (or can be handed to their user) while the link runs.
UPLINK_TIMING: Final = frozenset(
    {
        "keepalive_s",
        "reconnect_min_s",
        "reconnect_max_s",
        "status_min_interval_s",
        "rtt_interval_s",
        "result_ttl_s",
        "answer_ttl_s",
    }
)

# The budget's device monitor picks its temperature source once, at start-up.
BUDGET_AT_START: Final = frozenset({"device_temperature"})


class Reloadable(Protocol):
    """The running daemon's parts that a reload touches (`supervisor.daemon.app.Supervisor`).

    ``config`` is replaced by the configuration as now applied; ``uplink`` is None when the
    daemon holds no uplink (disabled, or no models).
    """

    config: Config
    budget: BudgetService
    uplink: NodeUplink | None


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    """What a reload did.

    Attributes:
        applied: dotted keys that changed and now hold their new values.
        needs_restart: dotted keys that changed but keep their old values until a restart.
    """

    applied: tuple[str, ...]
    needs_restart: tuple[str, ...]

    def to_json(self) -> dict[str, list[str]]:
        """The outcome as the API answers it (``ReloadConfig``)."""
        return {"applied": list(self.applied), "needs_restart": list(self.needs_restart)}

    def summary(self) -> str:
        """One log line: what changed live, and what waits for a restart."""
        if not self.applied and not self.needs_restart:
            return "configuration reloaded: nothing changed"
        parts = []
        if self.applied:
            parts.append("applied " + ", ".join(self.applied))
        if self.needs_restart:
            parts.append("needs a restart: " + ", ".join(self.needs_restart))
        return "configuration reloaded: " + "; ".join(parts)


def is_live(key: str) -> bool:
    """Whether the dotted configuration `key` can change without a restart."""
    section, _, rest = key.partition(".")
    if section == "daemon":
        return rest == "log_level"
    if section == "budget":
        return rest.split(".")[0] not in BUDGET_AT_START
    if section == "uplink":
        return rest in UPLINK_TIMING
    return False


def changed_keys(old: Any, new: Any, prefix: str = "") -> Iterator[str]:
    """Dotted names of the leaf settings that differ between two configuration dataclasses."""
    for field in dataclasses.fields(old):
        before, after = getattr(old, field.name), getattr(new, field.name)
        key = f"{prefix}{field.name}"
        if dataclasses.is_dataclass(before) and type(before) is type(after):
            yield from changed_keys(before, after, key + ".")
        elif before != after:
            yield key


def apply_reload(daemon: Reloadable, new: Config) -> ReloadOutcome:
    """Apply the live-changeable part of `new` to `daemon`; report what changed and what
    needs a restart. Synchronous, no I/O but a log line; on the trio thread (the budget
    re-evaluates at once). Raises nothing for a `new` that loaded (and so passed its checks).
    """
    changed = list(changed_keys(daemon.config, new))
    applied = tuple(k for k in changed if is_live(k))
    needs_restart = tuple(k for k in changed if not is_live(k))
    running = daemon.config = _merge(daemon.config, new)
    if "daemon.log_level" in applied:
        logging.getLogger().setLevel(running.daemon.log_level.upper())
    if any(k.startswith("budget.") for k in applied):
        _apply_budget(daemon.budget, running.budget)
    if daemon.uplink is not None and any(k.startswith("uplink.") for k in applied):
        _apply_uplink(daemon.uplink, running.uplink)
    outcome = ReloadOutcome(applied, needs_restart)
    (LOG.warning if needs_restart else LOG.info)("%s", outcome.summary())
    return outcome


class NoConfigFile(LookupError):
    """The daemon was started without a configuration file: there is nothing to re-read."""


def reload_file(daemon: Reloadable, path: Path | None) -> ReloadOutcome:
    """Re-read `path`, check it and apply it (`apply_reload`). On the trio thread; the file is
    small and read at once (a few milliseconds).

    Raises:
        NoConfigFile: `path` is None (the daemon runs on the built-in defaults).
        ConfigError: the file cannot be read or does not check (the message names the file
            and the line); nothing changed.
    """
    if path is None:
        raise NoConfigFile("the daemon was started without a configuration file to re-read")
    try:
        new = load_config(path)
        check_config(new, path)
    except ConfigError as exc:
        LOG.error("reload refused, nothing changed: %s", exc)
        raise
    return apply_reload(daemon, new)


def _apply_budget(service: BudgetService, config: BudgetConfig) -> None:
    """Hand the new limits to the budget and its temperature guard, keeping their latches."""
    service.config = config
    service.budget.config = config
    service.budget.thermal.config = config
    service.evaluate_now()


def _apply_uplink(node: NodeUplink, config: UplinkConfig) -> None:
    """Hand the new timing to the parts of the uplink that read it."""
    node.config = config
    node.link_monitor.config = config
    node.outbox.config = config
    node.mqtt.keepalive_s = config.keepalive_s  # sent with the next CONNECT
    node.mqtt.backoff.base_s = config.reconnect_min_s
    node.mqtt.backoff.cap_s = config.reconnect_max_s
    # The status gate has no setter of its own; its interval is a plain field.
    node.status_publisher._gate.min_interval_s = config.status_min_interval_s


def _merge(old: Any, new: Any, prefix: str = "") -> Any:
    """`old` with the live keys taken from `new`, built one dataclass at a time, so that the
    checks between fields (``reconnect_max_s`` not below ``reconnect_min_s``, say) see the
    new values together."""
    values = {}
    for field in dataclasses.fields(old):
        before, after = getattr(old, field.name), getattr(new, field.name)
        key = f"{prefix}{field.name}"
        if dataclasses.is_dataclass(before) and type(before) is type(after):
            values[field.name] = _merge(before, after, key + ".")
        else:
            values[field.name] = after if is_live(key) else before
    return dataclasses.replace(old, **values)
