"""The ISO 4217 currency codes a tariff or a credit may be written in.

ISO 4217 List One (maintained by SIX Financial Information for ISO), as amended to 2026, less
what is not money an owner is paid in: the fund codes (BOV, CHE, CHW, CLF, COU, MXV, USN, UYI,
UYW), the units that are not currencies (XAG, XAU, XPD, XPT, XBA, XBB, XBC, XBD, XDR, XSU,
XUA), the codes reserved for testing and for "no currency" (XTS, XXX), and codes withdrawn
(among the recent ones ANG for XCG in 2025, BGN for EUR in 2026, CUC, HRK, SLL and ZWL).
"""

from __future__ import annotations

from typing import Final

# Written as a block, alphabetical by first letter, so that an amendment is easy to compare.
CURRENCIES: Final = frozenset(
    """
    AED AFN ALL AMD AOA ARS AUD AWG AZN
    BAM BBD BDT BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD
    CAD CDF CHF CLP CNY COP CRC CUP CVE CZK
    DJF DKK DOP DZD
    EGP ERN ETB EUR
    FJD FKP
    GBP GEL GHS GIP GMD GNF GTQ GYD
    HKD HNL HTG HUF
    IDR ILS INR IQD IRR ISK
    JMD JOD JPY
    KES KGS KHR KMF KPW KRW KWD KYD KZT
    LAK LBP LKR LRD LSL LYD
    MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN
    NAD NGN NIO NOK NPR NZD
    OMR
    PAB PEN PGK PHP PKR PLN PYG
    QAR
    RON RSD RUB RWF
    SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL
    THB TJS TMT TND TOP TRY TTD TWD TZS
    UAH UGX USD UYU UZS
    VED VES VND VUV
    WST
    XAF XCD XCG XOF XPF
    YER
    ZAR ZMW ZWG
    """.split()  # noqa: SIM905 (a block of 155 codes reads better than a list literal)
)

# Codes on the list that name no money: said so, rather than "unknown", when refused.
_NOT_MONEY: Final = {
    "XTS": "the code reserved for testing",
    "XXX": "the code for transactions without a currency",
    **{code: "a precious metal" for code in ("XAG", "XAU", "XPD", "XPT")},
    **{code: "a bond market unit" for code in ("XBA", "XBB", "XBC", "XBD")},
    **{code: "an accounting unit" for code in ("XDR", "XSU", "XUA")},
    **{
        code: "a fund code"
        for code in ("BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "UYI", "UYW")
    },
}


def currency_problem(code: str) -> str | None:
    """Why `code` is not an ISO 4217 currency code in use, or None when it is one."""
    if code in CURRENCIES:
        return None
    if code.upper() in CURRENCIES:
        return f"must be an ISO 4217 code in capitals: {code.upper()!r}, not {code!r}"
    if code in _NOT_MONEY:
        return f"{code!r} is {_NOT_MONEY[code]} in ISO 4217, not a currency"
    if len(code) == 3 and code.isascii() and code.isalpha() and code.isupper():
        return f"{code!r} is not an ISO 4217 currency code in use"
    return f"must be an ISO 4217 currency code, three capital letters such as 'EUR', not {code!r}"
