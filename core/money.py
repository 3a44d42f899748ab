"""Money is integer minor units plus an ISO 4217 code; Decimal only at the ledger boundary."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from functools import cache

import msgspec
from babel.core import Locale
from babel.numbers import (
    format_currency,
    get_currency_precision,
    get_currency_symbol,
    get_decimal_symbol,
    get_group_symbol,
    list_currencies,
)

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
    """Human form, e.g. `$1,234.50`, `¥500`, `KWD1.234`: what babel's `format_currency` gives, from integers."""
    style = _style(currency, locale)
    if style is None:
        return str(format_currency(to_decimal(amount_minor, currency), currency, locale=locale))
    return style.render(amount_minor)


class _Style(msgspec.Struct, frozen=True):
    """Babel's standard currency pattern for one currency and locale, resolved once.

    `format_currency` parses the locale and looks up the pattern, symbols and the currency's precision
    on every call (about 50 µs, 16 times on a client's page). All of that depends only on the currency
    and the locale; what depends on the amount is laying out its digits, done here on the integer.
    """

    prefixes: tuple[str, str]
    """Before the number, for amounts >= 0 and < 0, with the currency symbol filled in."""
    suffixes: tuple[str, str]
    digits: int
    min_int: int
    grouping: tuple[int, int]
    group: str
    decimal: str

    def render(self, amount_minor: int) -> str:
        negative = int(amount_minor < 0)
        text = str(abs(amount_minor)).rjust(self.digits + 1, "0")
        whole, fraction = (text[: -self.digits], text[-self.digits :]) if self.digits else (text, "")
        whole = whole.rjust(self.min_int, "0")
        size, groups = self.grouping[0], ""
        while len(whole) > size:
            groups = self.group + whole[-size:] + groups
            whole = whole[:-size]
            size = self.grouping[1]
        number = whole + groups + (self.decimal + fraction if fraction else "")
        text = self.prefixes[negative] + number + self.suffixes[negative]
        # As babel does: text in single quotes is literal, a doubled quote is a quote.
        return _QUOTED.sub(lambda m: m.group(1) or "'", text) if "'" in text else text


_QUOTED = re.compile(r"'([^']*)'")


@cache
def _style(currency: str, locale: str) -> _Style | None:
    """The resolved pattern, or None for a pattern this fast path does not cover (babel formats those)."""
    parsed = Locale.parse(locale)
    pattern = parsed.currency_formats["standard"]
    affixes = (*pattern.prefix, *pattern.suffix)
    if pattern.exp_prec or pattern.scale or "@" in pattern.pattern or any("¤¤¤" in affix for affix in affixes):
        return None
    symbol = get_currency_symbol(currency, parsed)

    def fill(affix: str) -> str:
        return affix.replace("¤¤", currency.upper()).replace("¤", symbol)

    return _Style(
        prefixes=(fill(pattern.prefix[0]), fill(pattern.prefix[1])),
        suffixes=(fill(pattern.suffix[0]), fill(pattern.suffix[1])),
        digits=exponent(currency),
        min_int=pattern.int_prec[0],
        grouping=pattern.grouping,
        group=get_group_symbol(parsed, numbering_system="latn"),
        decimal=get_decimal_symbol(parsed, numbering_system="latn"),
    )
