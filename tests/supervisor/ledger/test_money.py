"""Money keeps its real precision: 0.002 USD is not 0.00 USD."""

from __future__ import annotations

import pytest

from supervisor.ledger.money import amount, money


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.002, "0.002"),
        (1.5, "1.50"),
        (0.0, "0.00"),
        (-0.0, "0.00"),
        (-0.0000001, "0.00"),
        (12.3456789, "12.345679"),
        (100.0, "100.00"),
        (-3.25, "-3.25"),
        (0.1 + 0.2, "0.30"),
    ],
)
def test_amounts_keep_sub_cent_precision_and_two_decimals(value: float, text: str) -> None:
    assert amount(value) == text


def test_money_names_its_currency() -> None:
    assert money(0.002, "USD") == "0.002 USD"
