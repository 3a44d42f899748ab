"""Money conversions follow each currency's ISO 4217 exponent."""

from __future__ import annotations

from decimal import Decimal

import pytest
from babel.numbers import format_currency, list_currencies

from core.money import format_money, to_decimal, to_minor


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("123.45", "USD", 12345),
        ("500", "JPY", 500),
        ("1.234", "KWD", 1234),
        ("0.005", "USD", 1),
        ("99.994", "GBP", 9999),
    ],
)
def test_to_minor_uses_the_currency_exponent(amount: str, currency: str, minor: int) -> None:
    assert to_minor(Decimal(amount), currency) == minor


def test_round_trip_is_exact() -> None:
    assert to_decimal(12345, "USD") == Decimal("123.45")
    assert to_decimal(500, "JPY") == Decimal("500")
    assert to_decimal(1234, "KWD") == Decimal("1.234")


def test_format_money_is_human() -> None:
    assert format_money(123450, "USD") == "$1,234.50"
    assert format_money(500, "JPY") == "¥500"


@pytest.mark.parametrize("locale", ["en_US", "en_GB", "en_IN", "de_DE", "de_CH", "fr_FR", "ja_JP", "ar_EG", "nl_NL"])
def test_format_money_matches_babel_for_every_currency(locale: str) -> None:
    amounts = [0, 1, 7, 99, 100, 12_345, 100_000, 1_234_567, 123_456_789_012, -1, -12_345, -1_234_567]
    for currency in sorted(list_currencies()):
        for amount in amounts:
            expected = format_currency(to_decimal(amount, currency), currency, locale=locale)
            assert format_money(amount, currency, locale) == expected, (amount, currency, locale)
