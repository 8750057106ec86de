"""``[ledger] currency``: an ISO 4217 code of a currency in use, from the shipped list."""

from __future__ import annotations

import pytest

from supervisor.config.errors import ConfigError
from supervisor.config.iso4217 import CURRENCIES, currency_problem
from supervisor.config.load import parse_config


@pytest.mark.parametrize("code", ["USD", "EUR", "GBP", "JPY", "CHF", "XOF", "XCG", "ZWG", "SLE"])
def test_currencies_in_use_are_accepted(code: str) -> None:
    assert currency_problem(code) is None
    assert parse_config(f'[ledger]\ncurrency = "{code}"\n').ledger.currency == code


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("usd", "must be an ISO 4217 code in capitals: 'USD', not 'usd'"),
        (
            "XXX",
            "'XXX' is the code for transactions without a currency in ISO 4217, not a currency",
        ),
        ("XTS", "'XTS' is the code reserved for testing in ISO 4217, not a currency"),
        ("XAU", "'XAU' is a precious metal in ISO 4217, not a currency"),
        ("USN", "'USN' is a fund code in ISO 4217, not a currency"),
        ("HRK", "'HRK' is not an ISO 4217 currency code in use"),
        ("ABC", "'ABC' is not an ISO 4217 currency code in use"),
        (
            "EURO",
            "must be an ISO 4217 currency code, three capital letters such as 'EUR', not 'EURO'",
        ),
        ("", "must be an ISO 4217 currency code, three capital letters such as 'EUR', not ''"),
        ("€", "must be an ISO 4217 currency code, three capital letters such as 'EUR', not '€'"),
    ],
)
def test_other_codes_are_refused_with_the_reason(code: str, problem: str) -> None:
    assert currency_problem(code) == problem
    with pytest.raises(ConfigError) as info:
        parse_config(f"[ledger]\ntariff_per_kwh = 0.2\ncurrency = {code!r}\n", "p.toml")
    assert str(info.value) == f"p.toml:3: [ledger] ledger.currency: {problem}"


def test_the_shipped_list_holds_only_three_capital_letters() -> None:
    assert len(CURRENCIES) > 150
    assert all(len(c) == 3 and c.isascii() and c.isalpha() and c.isupper() for c in CURRENCIES)
    assert not CURRENCIES & {"XXX", "XTS", "XAU", "XDR"}
