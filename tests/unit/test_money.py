"""Money conversions follow each currency's ISO 4217 exponent."""

from __future__ import annotations

from decimal import Decimal

import pytest

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
