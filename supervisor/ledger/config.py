"""The ``[ledger]`` configuration section: the owner's energy tariff and the currency."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from msgspec import Meta

from supervisor.config.iso4217 import currency_problem


@dataclass(frozen=True, slots=True)
class LedgerConfig:
    """``[ledger]``: what each job's energy costs the owner, recorded with the job."""

    tariff_per_kwh: Annotated[
        float,
        Meta(
            ge=0.0,
            le=10.0,
            description="the owner's electricity price, currency per kWh, recorded with each job",
        ),
    ] = 0.15
    currency: Annotated[str, Meta(description="ISO 4217 code of the tariff and of the credits")] = (
        "USD"
    )

    def config_problems(self) -> Iterator[tuple[str, str]]:
        """A currency that is not an ISO 4217 code in use (placed in the file by the parser)."""
        problem = currency_problem(self.currency)
        if problem:
            yield "currency", problem
