"""Xero's `where` and `order` query parameters: a small parser and evaluator over sandbox records.

Supports comparisons (`==`, `!=`, `>`, `>=`, `<`, `<=`) between fields and literals (`"text"`, numbers,
`true`/`false`/`null`, `DateTime(2026,08,27)`, `DateTime(2026,08,27,13,05,00)`, `Guid("...")`), the string
methods `StartsWith`, `EndsWith`, `Contains`, `ToUpper()`, `ToLower()`, `AND`/`&&`, `OR`/`||`, `NOT`/`!` and
parentheses. Field names are case-insensitive, as with Xero.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

T = TypeVar("T")

STRING, GUID, NUMBER, DATETIME, BOOL, NULL = "String", "Guid", "Decimal", "DateTime", "Boolean", "Null"


class QueryParseError(Exception):
    """A `where`/`order` expression Xero would reject (answered as a 400 QueryParseException)."""


@dataclass(frozen=True, slots=True)
class Field(Generic[T]):
    """A filterable/sortable property of a record: its value kind and how to read it."""

    kind: str
    get: Callable[[T], object]


Fields = Mapping[str, Field[T]]
_Value = Callable[[Any], object]

_TOKEN = re.compile(
    r"""\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<number>-?\d+(?:\.\d+)?)
    |(?P<op>==|!=|>=|<=|&&|\|\||[<>!(),.=])|(?P<ident>[A-Za-z_][A-Za-z0-9_]*))""",
    re.VERBOSE,
)
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def normalise(value: object) -> object:
    """Bring a record value to a comparable form: dates to naive UTC datetimes, ints to Decimal."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)  # noqa: DTZ001 - compared as naive UTC
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    return value


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.lastgroup is None:
            raise QueryParseError(f"Syntax error at position {pos}")
        tokens.append((match.lastgroup, match.group(match.lastgroup)))
        pos = match.end()
    return tokens


class _Parser(Generic[T]):
    def __init__(self, text: str, fields: Fields[T], entity: str) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0
        self.fields = fields
        self.entity = entity

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def accept(self, *values: str) -> str | None:
        token = self.peek()
        if token is not None and token[0] in ("op", "ident") and token[1].upper() in values:
            self.pos += 1
            return token[1].upper()
        return None

    def expect(self, value: str) -> None:
        if self.accept(value) is None:
            raise QueryParseError(f"'{value}' expected")

    def parse(self) -> Callable[[T], bool]:
        predicate, kind = self.expression()
        if self.peek() is not None:
            raise QueryParseError(f"Syntax error near '{self.peek()[1]}'")  # type: ignore[index]
        if kind != BOOL:
            raise QueryParseError("Expression of type 'Boolean' expected")
        return lambda record: predicate(record) is True

    def expression(self) -> tuple[_Value, str]:
        left, kind = self.conjunction()
        while self.accept("OR", "||"):
            right, right_kind = self.conjunction()
            self._need_bool(kind, right_kind, "OR")
            left = _either(left, right)
        return left, kind

    def conjunction(self) -> tuple[_Value, str]:
        left, kind = self.negation()
        while self.accept("AND", "&&"):
            right, right_kind = self.negation()
            self._need_bool(kind, right_kind, "AND")
            left = _both(left, right)
        return left, kind

    def negation(self) -> tuple[_Value, str]:
        if self.accept("NOT", "!"):
            inner, kind = self.negation()
            self._need_bool(kind, BOOL, "NOT")
            return (lambda r: not inner(r)), BOOL
        return self.comparison()

    def comparison(self) -> tuple[_Value, str]:
        left, left_kind = self.operand()
        op = self.accept(*_COMPARE, "=")
        if op is None:
            return left, left_kind
        op = "==" if op == "=" else op
        right, right_kind = self.operand()
        _check_operands(op, left_kind, right_kind)
        compare = _COMPARE[op]

        def evaluate(record: object) -> bool:
            a, b = left(record), right(record)
            if a is None or b is None:
                return op in ("==", "!=") and compare(a, b)
            return bool(compare(a, b))

        return evaluate, BOOL

    def operand(self) -> tuple[_Value, str]:
        token = self.peek()
        if token is None:
            raise QueryParseError("Expression expected")
        self.pos += 1
        kind, text = token
        if kind == "string":
            literal = bytes(text[1:-1], "utf-8").decode("unicode_escape")
            return (lambda _r: literal), STRING
        if kind == "number":
            number = Decimal(text)
            return (lambda _r: number), NUMBER
        if text == "(":
            inner = self.expression()
            self.expect(")")
            return inner
        if kind != "ident":
            raise QueryParseError(f"Expression expected near '{text}'")
        return self.identifier(text)

    def identifier(self, text: str) -> tuple[_Value, str]:
        upper = text.upper()
        if upper in ("TRUE", "FALSE"):
            flag = upper == "TRUE"
            return (lambda _r: flag), BOOL
        if upper == "NULL":
            return (lambda _r: None), NULL
        if upper == "DATETIME" and self.accept("("):
            stamp = self.datetime_literal()
            return (lambda _r: stamp), DATETIME
        if upper == "GUID" and self.accept("("):
            guid = self.guid_literal()
            return (lambda _r: guid), GUID
        return self.member_path(text)

    def datetime_literal(self) -> datetime:
        parts = []
        while True:
            token = self.peek()
            if token is None or token[0] != "number":
                raise QueryParseError("DateTime expects numbers")
            parts.append(int(token[1]))
            self.pos += 1
            if self.accept(")"):
                break
            self.expect(",")
        if len(parts) not in (3, 6):
            raise QueryParseError("DateTime expects (year, month, day) or (year, month, day, hour, minute, second)")
        year, month, day, hour, minute, second = [*parts, 0, 0, 0][:6]
        try:
            return datetime(year, month, day, hour, minute, second)  # noqa: DTZ001 - Xero's literals are naive UTC
        except ValueError as exc:
            raise QueryParseError(str(exc)) from exc

    def guid_literal(self) -> str:
        token = self.peek()
        if token is None or token[0] != "string":
            raise QueryParseError("Guid expects a string")
        self.pos += 1
        self.expect(")")
        return token[1][1:-1].lower()

    def member_path(self, first: str) -> tuple[_Value, str]:
        names = [first]
        while self.accept("."):
            token = self.peek()
            if token is None or token[0] != "ident":
                raise QueryParseError("Identifier expected")
            names.append(token[1])
            self.pos += 1
        for cut in range(len(names), 0, -1):
            field = self.fields.get(".".join(names[:cut]).lower())
            if field is not None:
                return self.methods(field, names[cut:])
        raise QueryParseError(f"No property or field '{names[0]}' exists in type '{self.entity}'")

    def methods(self, field: Field[T], calls: Sequence[str]) -> tuple[_Value, str]:
        getter: _Value = (lambda f: lambda r: _comparable(f.kind, f.get(r)))(field)
        kind = field.kind
        for name in calls:
            if kind not in (STRING, GUID):
                raise QueryParseError(f"No applicable method '{name}' exists in type '{kind}'")
            getter, kind = self.method(getter, name)
        return getter, kind

    def method(self, target: _Value, name: str) -> tuple[_Value, str]:
        self.expect("(")
        lowered = name.lower()
        if lowered in ("toupper", "tolower"):
            self.expect(")")
            convert = str.upper if lowered == "toupper" else str.lower
            return (lambda r: None if (v := target(r)) is None else convert(str(v))), STRING
        if lowered not in ("startswith", "endswith", "contains"):
            raise QueryParseError(f"No applicable method '{name}' exists in type 'String'")
        token = self.peek()
        if token is None or token[0] != "string":
            raise QueryParseError(f"{name} expects a string")
        self.pos += 1
        self.expect(")")
        arg = bytes(token[1][1:-1], "utf-8").decode("unicode_escape")
        test: Callable[[str, str], bool] = {
            "startswith": str.startswith,
            "endswith": str.endswith,
            "contains": str.__contains__,
        }[lowered]
        return (lambda r: (v := target(r)) is not None and test(str(v), arg)), BOOL

    @staticmethod
    def _need_bool(left: str, right: str, op: str) -> None:
        if left != BOOL or right != BOOL:
            raise QueryParseError(f"Operator '{op}' incompatible with operand types '{left}' and '{right}'")


def _either(left: _Value, right: _Value) -> _Value:
    return lambda record: bool(left(record)) or bool(right(record))


def _both(left: _Value, right: _Value) -> _Value:
    return lambda record: bool(left(record)) and bool(right(record))


def _comparable(kind: str, value: object) -> object:
    if value is None:
        return None
    if kind == GUID:
        return str(value).lower()
    return normalise(value)


def _check_operands(op: str, left: str, right: str) -> None:
    if NULL in (left, right):
        if op not in ("==", "!="):
            raise QueryParseError(f"Operator '{op}' incompatible with operand types '{left}' and '{right}'")
        return
    compatible = left == right or {left, right} == {GUID, STRING}
    if not compatible or (left == BOOL and op not in ("==", "!=")):
        raise QueryParseError(f"Operator '{op}' incompatible with operand types '{left}' and '{right}'")


def parse_where(text: str, fields: Fields[T], entity: str) -> Callable[[T], bool]:
    """Compile a Xero `where` expression into a predicate over records; raise QueryParseError if invalid."""
    return _Parser(text, fields, entity).parse()


def parse_order(text: str, fields: Fields[T], entity: str) -> list[tuple[Field[T], bool]]:
    """Parse `Field [ASC|DESC], ...` into (field, descending) pairs; raise QueryParseError if invalid."""
    keys = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].upper() not in ("ASC", "DESC")):
            raise QueryParseError(f"Invalid order expression '{part.strip()}'")
        field = fields.get(words[0].lower())
        if field is None:
            raise QueryParseError(f"No property or field '{words[0]}' exists in type '{entity}'")
        keys.append((field, len(words) == 2 and words[1].upper() == "DESC"))
    return keys


def sort_records(records: list[T], keys: Sequence[tuple[Field[T], bool]]) -> list[T]:
    """Sort records by several keys (stable; missing values first when ascending)."""
    result = list(records)
    for field, descending in reversed(keys):
        result.sort(key=lambda r, f=field: _sort_key(_comparable(f.kind, f.get(r))), reverse=descending)  # type: ignore[misc]
    return result


def _sort_key(value: object) -> tuple[int, Any]:
    return (0, 0) if value is None else (1, value)
