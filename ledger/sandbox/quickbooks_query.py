"""The QuickBooks Online query language (`select ... from Entity where ... STARTPOSITION n MAXRESULTS n`).

Supported as in QBO: `select *`, `select count(*)`, column lists (sparse results), conditions joined by AND
only (QBO has no OR), operators `=`, `<`, `>`, `<=`, `>=`, `IN (...)` and `LIKE '%x%'`, `ORDERBY f [ASC|DESC]`,
`STARTPOSITION` (1-based) and `MAXRESULTS` (at most 1000). Keywords and names are case-insensitive.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

T = TypeVar("T")

ID, STRING, NUMBER, DATE, DATETIME, BOOL = "id", "string", "number", "date", "datetime", "bool"
MAX_RESULTS = 1000

_TOKEN = re.compile(
    r"""\s*(?:(?P<string>'(?:[^'\\]|\\.)*')|(?P<number>-?\d+(?:\.\d+)?)(?![\w.])
    |(?P<op><=|>=|!=|=|<|>|\(|\)|,|\*)|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))""",
    re.VERBOSE,
)


class QueryError(Exception):
    """A query QuickBooks rejects: code 4000 (parser) or 4001 (validation)."""

    def __init__(self, code: str, message: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.message = message
        self.detail = detail


def _parser_error(detail: str) -> QueryError:
    return QueryError("4000", "Error parsing query", f"QueryParserError: {detail}")


def _validation_error(detail: str) -> QueryError:
    return QueryError("4001", "Invalid query", f"QueryValidationError: {detail}")


@dataclass(frozen=True, slots=True)
class Column(Generic[T]):
    """A queryable property: its kind and how to read it from a record."""

    kind: str
    get: Callable[[T], object]


@dataclass(frozen=True, slots=True)
class Condition:
    """`field op value` or `field IN (values)`."""

    field: str
    op: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query."""

    entity: str
    count: bool
    columns: tuple[str, ...] | None
    conditions: tuple[Condition, ...]
    order: tuple[tuple[str, bool], ...]
    start: int
    max_results: int


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while text[pos:].strip():
        match = _TOKEN.match(text, pos)
        if match is None or match.lastgroup is None:
            raise _parser_error(f'Encountered " {text[pos:].strip()[:20]} " at line 1, column {pos + 1}.')
        tokens.append((match.lastgroup, match.group(match.lastgroup)))
        pos = match.end()
    return tokens


class _Reader:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek_word(self) -> str | None:
        if self.pos < len(self.tokens) and self.tokens[self.pos][0] in ("word", "op"):
            return self.tokens[self.pos][1].upper()
        return None

    def take(self) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise _parser_error('Encountered "<EOF>" at line 1.')
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def keyword(self, *words: str) -> str | None:
        word = self.peek_word()
        if word in words:
            self.pos += 1
            return word
        return None

    def expect(self, word: str) -> None:
        if self.keyword(word) is None:
            found = self.tokens[self.pos][1] if self.pos < len(self.tokens) else "<EOF>"
            raise _parser_error(f'Encountered " "{found}" " at line 1. Was expecting: "{word}"')

    def name(self) -> str:
        kind, text = self.take()
        if kind != "word":
            raise _parser_error(f'Encountered " "{text}" " at line 1. Was expecting an identifier')
        return text

    def integer(self) -> int:
        kind, text = self.take()
        if kind != "number" or not text.lstrip("-").isdigit():
            raise _parser_error(f'Encountered " "{text}" " at line 1. Was expecting an integer')
        return int(text)

    def value(self) -> str:
        kind, text = self.take()
        if kind == "string":
            return text[1:-1].replace("\\'", "'")
        if kind == "number" or (kind == "word" and text.lower() in ("true", "false")):
            return text
        raise _parser_error(f'Encountered " "{text}" " at line 1. Was expecting a value')


def parse_query(text: str) -> Query:
    """Parse a QBO query string; raise QueryError with QBO's code when it is not valid."""
    reader = _Reader(text)
    reader.expect("SELECT")
    count, columns = _select_list(reader)
    reader.expect("FROM")
    entity = reader.name()
    conditions = _where(reader)
    order = _order(reader)
    start, max_results = 1, 100
    if reader.keyword("STARTPOSITION"):
        start = max(reader.integer(), 1)
    if reader.keyword("MAXRESULTS"):
        max_results = min(max(reader.integer(), 0), MAX_RESULTS)
    if reader.pos < len(reader.tokens):
        raise _parser_error(f'Encountered " "{reader.tokens[reader.pos][1]}" " at line 1.')
    return Query(entity, count, columns, conditions, order, start, max_results)


def _select_list(reader: _Reader) -> tuple[bool, tuple[str, ...] | None]:
    if reader.keyword("*"):
        return False, None
    if reader.keyword("COUNT"):
        reader.expect("(")
        reader.expect("*")
        reader.expect(")")
        return True, None
    columns = [reader.name()]
    while reader.keyword(","):
        columns.append(reader.name())
    return False, tuple(columns)


def _where(reader: _Reader) -> tuple[Condition, ...]:
    if not reader.keyword("WHERE"):
        return ()
    conditions = [_condition(reader)]
    while True:
        if reader.keyword("AND"):
            conditions.append(_condition(reader))
        elif reader.peek_word() == "OR":
            raise _parser_error('Encountered " <OR> "OR "" at line 1. OR is not supported, use IN or separate queries')
        else:
            return tuple(conditions)


def _condition(reader: _Reader) -> Condition:
    field = reader.name()
    if reader.keyword("IN"):
        reader.expect("(")
        values = [reader.value()]
        while reader.keyword(","):
            values.append(reader.value())
        reader.expect(")")
        return Condition(field, "IN", tuple(values))
    op = reader.keyword("=", "<", ">", "<=", ">=", "!=", "LIKE")
    if op is None:
        raise _parser_error(f"Was expecting an operator after {field}")
    return Condition(field, op, (reader.value(),))


def _order(reader: _Reader) -> tuple[tuple[str, bool], ...]:
    if not reader.keyword("ORDERBY") and not (reader.keyword("ORDER") and reader.keyword("BY")):
        return ()
    keys = []
    while True:
        field = reader.name()
        descending = reader.keyword("DESC", "ASC") == "DESC"
        keys.append((field, descending))
        if not reader.keyword(","):
            return tuple(keys)


# ----- evaluation -------------------------------------------------------------------------------------------


def _coerce(kind: str, raw: str, field: str, zone: tzinfo) -> object:
    try:
        if kind == NUMBER:
            return Decimal(raw)
        if kind == ID:
            return int(raw)
        if kind == DATE:
            return date.fromisoformat(raw[:10])
        if kind == DATETIME:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=zone)
        if kind == BOOL:
            if raw.lower() not in ("true", "false"):
                raise ValueError(raw)
            return raw.lower() == "true"
    except (ValueError, InvalidOperation) as exc:
        raise _validation_error(f"Invalid value '{raw}' for property '{field}'") from exc
    return raw


def _like(pattern: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "%" else re.escape(c) for c in pattern), re.IGNORECASE | re.DOTALL)


def _value(kind: str, value: object) -> object:
    if kind == ID and isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def compile_conditions(
    conditions: Sequence[Condition], columns: Mapping[str, Column[T]], zone: tzinfo
) -> Callable[[T], bool]:
    """Build a predicate from parsed conditions; unknown properties raise a 4001 validation error."""
    tests: list[Callable[[T], bool]] = []
    for cond in conditions:
        column = columns.get(cond.field.lower())
        if column is None:
            raise _validation_error(f"property '{cond.field}' is not queryable")
        tests.append(_test(cond, column, zone))
    return lambda record: all(test(record) for test in tests)


def _test(cond: Condition, column: Column[T], zone: tzinfo) -> Callable[[T], bool]:
    kind, get = column.kind, column.get
    if cond.op == "LIKE":
        if kind != STRING:
            raise _validation_error(f"LIKE is not supported for property '{cond.field}'")
        pattern = _like(cond.values[0])
        return lambda r: (v := get(r)) is not None and pattern.fullmatch(str(v)) is not None
    wanted = [_coerce(kind, raw, cond.field, zone) for raw in cond.values]
    if cond.op == "IN":
        return lambda r: _value(kind, get(r)) in wanted
    compare: Callable[[Any, Any], bool] = {
        "=": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        ">": lambda a, b: a > b,
        "<=": lambda a, b: a <= b,
        ">=": lambda a, b: a >= b,
    }[cond.op]
    target = wanted[0]
    return lambda r: (v := _value(kind, get(r))) is not None and compare(v, target)


def sort_rows(rows: list[T], order: Sequence[tuple[str, bool]], columns: Mapping[str, Column[T]]) -> list[T]:
    """Sort by ORDERBY keys; unknown properties raise a 4001 validation error."""
    result = list(rows)
    for field, descending in reversed(order):
        column = columns.get(field.lower())
        if column is None:
            raise _validation_error(f"property '{field}' is not sortable")
        result.sort(key=lambda r, c=column: _sort_key(_value(c.kind, c.get(r))), reverse=descending)  # type: ignore[misc]
    return result


def _sort_key(value: object) -> tuple[int, Any]:
    return (0, 0) if value is None else (1, value)
