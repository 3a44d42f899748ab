"""Money is integer minor units plus an ISO 4217 code; Decimal only at the ledger boundary."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from babel.numbers import format_currency, get_currency_precision, list_currencies

_KNOWN = frozenset(list_currencies())


def is_currency(code: str) -> bool:
    """True for an ISO 4217 code babel knows (upper case)."""
    return code in _KNOWN


def exponent(currency: str) -> int:
    """Digits after the decimal point: USD 2, JPY 0, KWD 3."""
    return int(get_currency_precision(currency))


def to_minor(amount: Decimal | str | int, currency: str) -> int:
    """A ledger amount (e.g. Decimal('123.45')) in minor units; rounds half up to the currency's precision."""
    value = Decimal(str(amount)) if not isinstance(amount, Decimal) else amount
    scaled = value.scaleb(exponent(currency)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(scaled)


def to_decimal(amount_minor: int, currency: str) -> Decimal:
    """Minor units back to a Decimal for a ledger write (e.g. 12345 USD -> Decimal('123.45'))."""
    return Decimal(amount_minor).scaleb(-exponent(currency))


def format_money(amount_minor: int, currency: str, locale: str = "en_US") -> str:
    """Human form, e.g. `$1,234.50`, `¥500`, `KWD 1.234`."""
    return str(format_currency(to_decimal(amount_minor, currency), currency, locale=locale))
