"""Money as an owner reads it: the real precision of small credits, with the currency.

A parked car earns fractions of a cent per job; rounding them to cents would print
``0.00 USD`` for a job that earned 0.002 USD, and a month of such jobs would not add up on the
page. So amounts keep up to six decimals (the ledger's own rounding) and at least two.
"""

from __future__ import annotations

from typing import Final

DECIMALS: Final = 6  # what the ledger's statements keep (`supervisor.ledger.statement`)


def amount(value: float) -> str:
    """`value` with at least two decimals and up to six, no trailing zeros beyond two:
    ``0.002``, ``1.50``, ``12.345678``; ``-0`` reads ``0.00``."""
    text = f"{round(value, DECIMALS) + 0.0:.{DECIMALS}f}"
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0").ljust(2, "0")
    if whole == "-0" and fraction.strip("0") == "":
        whole = "0"
    return f"{whole}.{fraction}"


def money(value: float, currency: str) -> str:
    """`value` in `currency`: ``0.002 USD``."""
    return f"{amount(value)} {currency}"
