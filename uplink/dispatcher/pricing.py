"""What the reference dispatcher credits a car for a job: a flat price per job and model.

The rule is deliberately simple: the car whose result wins a job earns the price of the job's
model, once, whatever the job took; cars that lost the race, were cancelled or failed earn
nothing. Prices are in one currency (an ISO 4217 code). A fleet operator with a real tariff
(per worker second, per token, per kWh) replaces `PriceList` with its own; the protocol only
carries the resulting credit (``receipt``, ``docs/protocol.md``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from ..messages import is_currency

DEFAULT_PRICES: Final[Mapping[str, float]] = {"all-MiniLM-L6-v2": 0.002}
DEFAULT_PRICE: Final = 0.001
DEFAULT_CURRENCY: Final = "USD"


@dataclass(frozen=True)
class PriceList:
    """Credit per won job, by model.

    Attributes:
        prices: model name -> credit per job.
        default: credit per job for a model not in `prices`.
        currency: ISO 4217 code of every credit.

    Raises:
        ValueError: on construction, for a negative or non-finite price or a currency that is
            not three capital letters.
    """

    prices: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    default: float = DEFAULT_PRICE
    currency: str = DEFAULT_CURRENCY

    def __post_init__(self) -> None:
        for model, price in {**self.prices, "(default)": self.default}.items():
            if not (isinstance(price, int | float) and math.isfinite(price) and price >= 0):
                raise ValueError(f"price of {model!r} must be a finite number >= 0, not {price!r}")
        if not is_currency(self.currency):
            raise ValueError(f"currency {self.currency!r} is not an ISO 4217 code (3 capitals)")

    @classmethod
    def parse(
        cls, items: Sequence[str], default: float = DEFAULT_PRICE, currency: str = DEFAULT_CURRENCY
    ) -> PriceList:
        """A price list from ``MODEL=CREDIT`` strings (``parkmesh dispatcher --price``), on
        top of the default table; raises ValueError naming the item that is not one."""
        prices = dict(DEFAULT_PRICES)
        for item in items:
            model, sep, text = item.partition("=")
            try:
                if not (sep and model.strip()):
                    raise ValueError
                prices[model.strip()] = float(text)
            except ValueError:
                raise ValueError(f"price {item!r} is not MODEL=CREDIT") from None
        return cls(prices, default, currency)

    def credit(self, model: str) -> float:
        """What the winner of one job of `model` earns."""
        return float(self.prices.get(model, self.default))
