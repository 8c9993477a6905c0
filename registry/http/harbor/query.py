"""Harbor's list queries: the ``q`` filter syntax, ``sort``, ``page``/``page_size``, and the
``X-Total-Count`` / ``Link`` headers of a page.

``q`` is a comma-separated list of ``key=value`` terms (the value is URL-decoded once more,
as Harbor does, so ``q=tags%3Dnil`` works):

- ``k=v``            exact match (a leading ``\\`` escapes a special first character)
- ``k=~v``           fuzzy match (substring, case-insensitive)
- ``k=[min~max]``    range, either bound may be left out
- ``k={v1 v2}``      one of the values (OR list)
- ``k=(v1 v2)``      all of the values (AND list)

Range and list values are times (``2020-04-09T02:36:00``), integers or strings (quotes
trimmed). Malformed terms are a 400 with Harbor's messages. Keys and sort keys a resource
does not know are ignored, as Harbor's ORM ignores them.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cmp_to_key
from typing import Any, Generic, TypeVar

from aiohttp import web

from wharf.auth.errors import BadRequest
from wharf.auth.store import Page

T = TypeVar("T")

Scalar = str | int | datetime

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 10
# page_size 0 (or less) means "everything", as in Harbor; still bounded here
UNLIMITED = 1_000_000

_BAD_TERM = 'the query string must contain "=" and the key/value cannot be empty'
_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


class Unprocessable(Exception):
    """A parameter or body that does not match the API's description: Harbor (go-swagger)
    answers 422 ``UNPROCESSABLE_ENTITY``."""

    status = 422
    code = "UNPROCESSABLE_ENTITY"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Exact:
    value: str


@dataclass(frozen=True, slots=True)
class Fuzzy:
    value: str


@dataclass(frozen=True, slots=True)
class Range:
    min: Scalar | None = None
    max: Scalar | None = None


@dataclass(frozen=True, slots=True)
class OrList:
    values: tuple[Scalar, ...]


@dataclass(frozen=True, slots=True)
class AndList:
    values: tuple[Scalar, ...]


Term = Exact | Fuzzy | Range | OrList | AndList


def query_unescape(text: str) -> str:
    """Go's ``url.QueryUnescape``: ``+`` is a space, ``%XX`` a byte; a malformed escape
    leaves the whole text as it was."""
    if _ESCAPE.search(text):
        return text
    return urllib.parse.unquote_plus(text, errors="replace")


def parse_value(text: str) -> Scalar:
    """A range bound or list item: a time, else an integer, else a string without quotes."""
    text = text.strip()
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        pass
    if re.fullmatch(r"[+-]?[0-9]+", text):
        number = int(text)
        if -(2**63) <= number < 2**63:
            return number
    return text.strip("\"'")


def _parse_list(value: str, close: str, kind: str) -> tuple[Scalar, ...]:
    if value[-1] != close or len(value) < 2:
        raise ValueError(f'{kind} list must start with "{value[0]}" and end with "{close}"')
    items: list[Scalar] = []
    for piece in value[1:-1].split(" "):
        item = parse_value(piece)
        if item == "":
            continue
        items.append(item)
    return tuple(items)


def parse_term(value: str) -> Term:
    """One value of ``q``; ValueError when malformed."""
    first = value[0]
    if first == "~":
        if len(value) < 2:
            raise ValueError('fuzzy match value must start with "~" and contain more')
        return Fuzzy(value[1:])
    if first == "[":
        if value[-1] != "]" or value.count("~") != 1 or len(value) < 2:
            raise ValueError('range must start with "[", end with "]" and contain one "~"')
        low, high = (part.strip() for part in value[1:-1].split("~", 1))
        if not low and not high:
            raise ValueError("min and max at least one should be set in range")
        return Range(parse_value(low) if low else None, parse_value(high) if high else None)
    if first == "{":
        return OrList(_parse_list(value, "}", "or"))
    if first == "(":
        return AndList(_parse_list(value, ")", "and"))
    return Exact(value[1:] if first == "\\" else value)


def parse_q(raw: str) -> dict[str, Term]:
    """The ``q`` parameter (already URL-decoded once by the server) → key → term. A key
    given twice keeps its last term. BadRequest when malformed."""
    terms: dict[str, Term] = {}
    if not raw:
        return terms
    for param in query_unescape(raw).split(","):
        key, sep, value = param.partition("=")
        if not sep or not key or not value:
            raise BadRequest(_BAD_TERM)
        try:
            terms[key] = parse_term(value)
        except ValueError:
            raise BadRequest(f"invalid query string value: {value}") from None
    return terms


@dataclass(frozen=True, slots=True)
class Sort:
    key: str
    desc: bool = False


def parse_sort(raw: str) -> list[Sort]:
    """``sort=k1,-k2``: ascending ``k1`` then descending ``k2``."""
    if not raw:
        return []
    sorts = []
    for piece in raw.split(","):
        if piece.startswith("-"):
            sorts.append(Sort(piece[1:], True))
        else:
            sorts.append(Sort(piece))
    return sorts


def _int_param(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Unprocessable(f'{name} in query must be of type int64: "{raw}"') from None
    if not -(2**63) <= value < 2**63:
        raise Unprocessable(f'{name} in query must be of type int64: "{raw}"')
    return value


MAX_OFFSET = 2**62


@dataclass(frozen=True, slots=True)
class ListQuery:
    """What a list request asks for: filters, order and page."""

    terms: dict[str, Term] = field(default_factory=dict)
    sorts: list[Sort] = field(default_factory=list)
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE  # <= 0: everything

    @property
    def window(self) -> Page:
        """The page as an offset and a limit (for the stores)."""
        if self.page_size <= 0:
            return Page(0, UNLIMITED)
        # a page past any store's size is empty; clamping keeps the offset a 64-bit integer
        offset = min((max(self.page, 1) - 1) * self.page_size, MAX_OFFSET)
        return Page(offset, self.page_size)

    def term(self, *keys: str) -> Term | None:
        """The term of the first of ``keys`` present in ``q``."""
        for key in keys:
            if key in self.terms:
                return self.terms[key]
        return None


def list_query(request: web.Request, fuzzy: tuple[str, ...] = ()) -> ListQuery:
    """``q``, ``sort``, ``page`` and ``page_size`` of a list request. 400 for a malformed
    ``q``; 422 (as go-swagger answers) for numbers that are not, and ``page_size`` > 100.
    ``fuzzy``: older query parameters (``name=``, ``username=``, …) that Harbor still takes,
    each a fuzzy term of ``q`` when given."""
    page = _int_param(request, "page", 1)
    size = _int_param(request, "page_size", DEFAULT_PAGE_SIZE)
    if size > MAX_PAGE_SIZE:
        raise Unprocessable(f"page_size in query should be less than or equal to {MAX_PAGE_SIZE}")
    terms = parse_q(request.query.get("q", ""))
    for key in fuzzy:
        if request.query.get(key):
            terms[key] = Fuzzy(request.query[key])
    return ListQuery(
        terms,
        parse_sort(request.query.get("sort", "")),
        page,
        size,
    )


# --- matching terms against values (lists filtered in memory) ------------------------


def _comparable(a: Any, b: Any) -> tuple[Any, Any] | None:
    """``a`` and ``b`` made comparable: numbers with numbers, times with times, else text."""
    if isinstance(a, bool) or isinstance(b, bool):
        return str(a).lower(), str(b).lower()
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a, b
    if isinstance(a, datetime) or isinstance(b, datetime):
        x, y = _as_time(a), _as_time(b)
        return None if x is None or y is None else (x, y)
    if isinstance(a, int | float) or isinstance(b, int | float):
        try:
            return float(a), float(b)
        except (TypeError, ValueError):
            return None
    return str(a), str(b)


def _as_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return None


def _equal(actual: Any, wanted: Any) -> bool:
    pair = _comparable(actual, wanted)
    return pair is not None and pair[0] == pair[1]


def matches(actual: Any, term: Term) -> bool:
    """Whether a value (a string, number, bool, time as epoch seconds, or a list of them:
    any element may match, an AND list needs all) satisfies ``term``."""
    if isinstance(actual, list | tuple | set | frozenset):
        values = list(actual)
        if isinstance(term, AndList):
            return all(any(_equal(v, w) for v in values) for w in term.values)
        return any(matches(v, term) for v in values)
    if isinstance(term, Exact):
        return _equal(actual, term.value)
    if isinstance(term, Fuzzy):
        return term.value.lower() in str(actual).lower()
    if isinstance(term, OrList):
        return any(_equal(actual, w) for w in term.values)
    if isinstance(term, AndList):
        return all(_equal(actual, w) for w in term.values)
    for bound, sign in ((term.min, 1), (term.max, -1)):
        if bound is None:
            continue
        if _compare(actual, bound) * sign < 0 or _comparable(actual, bound) is None:
            return False
    return True


@dataclass(frozen=True)
class Fields(Generic[T]):
    """What of an item a list may filter (``q`` keys) and sort (``sort`` keys) by."""

    filters: Mapping[str, Callable[[T], Any]]
    sorts: Mapping[str, Callable[[T], Any]]
    default: Sequence[Sort] = ()


def _compare(a: Any, b: Any) -> int:
    """-1, 0 or 1; None sorts first; values that cannot be compared are equal."""
    if a is None or b is None:
        return int(b is None) - int(a is None)
    pair = _comparable(a, b)
    if pair is None:
        return 0
    x, y = pair
    try:
        return int(x > y) - int(x < y)
    except TypeError:
        return 0


def order(items: Iterable[T], sorts: Sequence[Sort], fields: Fields[T]) -> list[T]:
    known = [s for s in sorts if s.key in fields.sorts] or list(fields.default)

    def compare(a: T, b: T) -> int:
        for s in known:
            key = fields.sorts[s.key]
            result = _compare(key(a), key(b))
            if result:
                return -result if s.desc else result
        return 0

    return sorted(items, key=cmp_to_key(compare))


def select(items: Iterable[T], query: ListQuery, fields: Fields[T]) -> list[T]:
    """The items that match every known ``q`` term, in the asked (or default) order."""
    kept = [
        item
        for item in items
        if all(
            matches(fields.filters[key](item), term)
            for key, term in query.terms.items()
            if key in fields.filters
        )
    ]
    return order(kept, query.sorts, fields)


def page_of(items: Sequence[T], query: ListQuery) -> list[T]:
    window = query.window
    return list(items[window.offset : window.offset + window.limit])


# --- the answer ---------------------------------------------------------------------


def links(request: web.Request, total: int, query: ListQuery) -> str:
    """Harbor's ``Link`` header: prev/next URLs of the same request (path and query, the
    query re-encoded with sorted keys then unescaped), joined by `` , ``."""
    size = query.page_size
    if size <= 0:
        return ""
    number = max(query.page, 1)
    found: list[str] = []

    def url(n: int) -> str:
        params = {k: v for k, v in request.query.items() if k not in ("page", "page_size")}
        params.update(page=str(n), page_size=str(size))
        encoded = urllib.parse.urlencode(sorted(params.items()))
        return f"<{request.path}?{query_unescape(encoded)}>"

    if number > 1 and (number - 1) * size < total:
        found.append(f'{url(number - 1)}; rel="prev"')
    if size * number < total:
        found.append(f'{url(number + 1)}; rel="next"')
    return " , ".join(found)


def page_headers(request: web.Request, total: int, query: ListQuery) -> dict[str, str]:
    headers = {"X-Total-Count": str(total)}
    link = links(request, total, query)
    if link:
        headers["Link"] = link
    return headers
