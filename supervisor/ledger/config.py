"""The ``[ledger]`` configuration section: the owner's energy tariff and the currency."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from supervisor.config.iso4217 import currency_problem
from supervisor.config.sections import Problem, setting


@dataclass(frozen=True, slots=True)
class LedgerConfig:
    """``[ledger]``: what each job's energy costs the owner, recorded with the job."""

    tariff_per_kwh: float = setting(
        0.15,
        doc="the owner's electricity price, currency per kWh, recorded with each job",
        min=0.0,
        max=10.0,
    )
    currency: str = setting("USD", doc="ISO 4217 code of the tariff and of the credits")

    def config_problems(self) -> Iterator[Problem]:
        """A currency that is not an ISO 4217 code in use (placed in the file by the parser)."""
        problem = currency_problem(self.currency)
        if problem:
            yield "currency", problem
