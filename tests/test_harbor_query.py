"""Harbor's list queries: the ``q`` grammar (properties with hypothesis), ``sort``, paging,
and how the API answers them (400 / 422 bodies, Link, X-Total-Count, X-Request-Id)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from wharf.auth.errors import BadRequest
from wharf.registry.http.harbor.query import (
    AndList,
    Exact,
    Fields,
    Fuzzy,
    ListQuery,
    OrList,
    Range,
    Sort,
    matches,
    parse_q,
    parse_sort,
    query_unescape,
    select,
)

from .inproc import ADMIN, InProcessServer, serve_in_process

# --- the grammar --------------------------------------------------------------------

keys = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_.]{0,12}\Z")
# plain words: no separators, nothing special in front, not a number or a time
words = st.from_regex(r"\A[a-z][a-z0-9._/-]{0,10}\Z")
numbers = st.integers(-(2**40), 2**40)
times = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.none()
).map(lambda t: t.replace(microsecond=0, tzinfo=UTC))
scalars = st.one_of(words, numbers, times)


def render_scalar(value: str | int | datetime) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S")
    return str(value)


terms = st.one_of(
    words.map(Exact),
    words.map(Fuzzy),
    st.tuples(st.none() | scalars, st.none() | scalars)
    .filter(lambda r: r != (None, None))
    .map(lambda r: Range(*r)),
    st.lists(scalars, max_size=4).map(lambda v: OrList(tuple(v))),
    st.lists(scalars, max_size=4).map(lambda v: AndList(tuple(v))),
)


def render(term: Exact | Fuzzy | Range | OrList | AndList) -> str:
    if isinstance(term, Exact):
        return term.value
    if isinstance(term, Fuzzy):
        return "~" + term.value
    if isinstance(term, Range):
        low = "" if term.min is None else render_scalar(term.min)
        high = "" if term.max is None else render_scalar(term.max)
        return f"[{low}~{high}]"
    inner = " ".join(render_scalar(v) for v in term.values)
    return "{" + inner + "}" if isinstance(term, OrList) else "(" + inner + ")"


@given(st.dictionaries(keys, terms, min_size=1, max_size=5))
def test_rendered_queries_parse_back(wanted: dict[str, Exact]) -> None:
    raw = ",".join(f"{k}={render(t)}" for k, t in wanted.items())
    assert parse_q(raw) == wanted


@given(st.dictionaries(keys, terms, min_size=1, max_size=5))
def test_url_encoded_queries_parse_the_same(wanted: dict[str, Exact]) -> None:
    raw = ",".join(f"{k}={render(t)}" for k, t in wanted.items())
    # what is left encoded after the server's own decoding is decoded once more
    assert parse_q(urllib.parse.quote(raw, safe="")) == wanted


@given(st.text(max_size=40))
def test_any_text_parses_or_is_a_bad_request(raw: str) -> None:
    try:
        parsed = parse_q(raw)
    except BadRequest as exc:
        assert exc.status == 400
    else:
        assert all(k for k in parsed)


@pytest.mark.parametrize(
    "raw",
    [
        "name",
        "=v",
        "name=",
        "a=1,,b=2",
        "name=~",
        "t=[1~2",
        "t=[1~2~3]",
        "t=[~]",
        "t={a b",
        "t=(a b",
        "t={",
        "t=(",
        "t=[",
    ],
)
def test_malformed_queries(raw: str) -> None:
    with pytest.raises(BadRequest):
        parse_q(raw)


def test_values_and_escapes() -> None:
    assert parse_q("name=\\~x") == {"name": Exact("~x")}
    assert parse_q("id=[5~]") == {"id": Range(5, None)}
    assert parse_q("t=[2020-04-09T02:36:00~ ]") == {
        "t": Range(datetime(2020, 4, 9, 2, 36, tzinfo=UTC), None)
    }
    assert parse_q("n={'a b' 3}") == {"n": OrList(("a", "b", 3))}  # split on spaces first
    assert parse_q('n={"x" 3}') == {"n": OrList(("x", 3))}
    assert parse_q("n=(a  b)") == {"n": AndList(("a", "b"))}
    assert parse_q("tags%3Dnil") == {"tags": Exact("nil")}
    assert parse_q("a=1,a=2") == {"a": Exact("2")}
    # Go's QueryUnescape: '+' is a space; a broken escape leaves the text as it is
    assert query_unescape("a+b") == "a b"
    assert query_unescape("100%zz+") == "100%zz+"


def test_sort_and_matching() -> None:
    assert parse_sort("name,-creation_time") == [Sort("name"), Sort("creation_time", True)]
    assert parse_sort("") == []
    assert matches("nginx", Fuzzy("GIN"))
    assert matches(5, Range(1, 5)) and not matches(6, Range(1, 5))
    assert matches(["a", "b"], AndList(("a", "b"))) and not matches(["a"], AndList(("a", "b")))
    assert matches("b", OrList(("a", "b"))) and matches(3, Exact("3"))
    assert matches(
        datetime(2021, 1, 1, tzinfo=UTC).timestamp(), Range(datetime(2020, 1, 1, tzinfo=UTC))
    )

    items = [{"n": "b", "t": 2}, {"n": "a", "t": 3}, {"n": "c", "t": 1}]
    fields: Fields[dict[str, object]] = Fields(
        filters={"n": lambda i: i["n"]},
        sorts={"n": lambda i: i["n"], "t": lambda i: i["t"]},
        default=(Sort("t"),),
    )
    picked = select(items, ListQuery(sorts=[Sort("n", True)]), fields)
    assert [i["n"] for i in picked] == ["c", "b", "a"]
    # an unknown sort key is ignored (Harbor's ORM ignores it): the default order
    assert [i["t"] for i in select(items, ListQuery(sorts=[Sort("zzz")]), fields)] == [1, 2, 3]
    assert [i["n"] for i in select(items, ListQuery(terms={"n": Fuzzy("b")}), fields)] == ["b"]
    # an unknown q key is ignored too
    assert len(select(items, ListQuery(terms={"zzz": Exact("1")}), fields)) == 3


# --- through the API ------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    data: Path = tmp_path_factory.mktemp("harbor-query") / "data"
    with serve_in_process(data, auth=True, admin_password=ADMIN[1]) as app:
        yield app
    assert not app.errors, app.error_log()


def api(server: InProcessServer, path: str) -> str:
    return f"{server.url}/api/v2.0{path}"


def test_page_size_over_100_is_422(server: InProcessServer) -> None:
    r = requests.get(api(server, "/projects?page_size=101"), auth=ADMIN, timeout=10)
    assert r.status_code == 422
    assert r.json() == {
        "errors": [
            {
                "code": "UNPROCESSABLE_ENTITY",
                "message": "page_size in query should be less than or equal to 100",
            }
        ]
    }
    r = requests.get(api(server, "/projects?page=x"), auth=ADMIN, timeout=10)
    assert r.status_code == 422 and "page in query must be of type int64" in r.text
    assert requests.get(api(server, "/projects?page_size=100"), auth=ADMIN, timeout=10).ok


def test_malformed_q_is_400_with_harbors_body(server: InProcessServer) -> None:
    r = requests.get(api(server, "/projects?q=name"), auth=ADMIN, timeout=10)
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "BAD_REQUEST"
    assert r.json()["errors"][0]["message"] == (
        'the query string must contain "=" and the key/value cannot be empty'
    )
    r = requests.get(api(server, "/projects?q=name=[a~b~c]"), auth=ADMIN, timeout=10)
    assert r.status_code == 400
    assert r.json()["errors"][0]["message"] == "invalid query string value: [a~b~c]"


def test_link_and_total_count(server: InProcessServer) -> None:
    for i in range(3):
        requests.post(
            api(server, "/projects"), json={"project_name": f"pq{i}"}, auth=ADMIN, timeout=10
        ).raise_for_status()
    r = requests.get(api(server, "/projects?page=2&page_size=1&name=pq"), auth=ADMIN, timeout=10)
    assert r.status_code == 200 and r.headers["X-Total-Count"] == "3"
    assert r.headers["Link"] == (
        '</api/v2.0/projects?name=pq&page=1&page_size=1>; rel="prev" , '
        '</api/v2.0/projects?name=pq&page=3&page_size=1>; rel="next"'
    )
    assert len(r.json()) == 1
    everything = requests.get(api(server, "/projects?page_size=0"), auth=ADMIN, timeout=10)
    assert len(everything.json()) == int(everything.headers["X-Total-Count"]) >= 4
    assert "Link" not in everything.headers


def test_request_id_on_every_answer(server: InProcessServer) -> None:
    mine = requests.get(api(server, "/projects"), headers={"X-Request-Id": "abc-123"}, timeout=10)
    assert mine.headers["X-Request-Id"] == "abc-123"
    seen = set()
    for method, path in (
        ("GET", "/projects"),
        ("GET", "/projects/no-such-project"),
        ("GET", "/no/such/path"),
        ("PATCH", "/projects"),
        ("GET", "/projects?page_size=500"),
    ):
        r = requests.request(method, api(server, path), timeout=10)
        assert len(r.headers.get("X-Request-Id", "")) >= 32, (method, path, r.headers)
        seen.add(r.headers["X-Request-Id"])
    assert len(seen) == 5  # a new one each time


def test_resource_name_in_location(server: InProcessServer) -> None:
    r = requests.post(
        api(server, "/projects"),
        json={"project_name": "located"},
        headers={"X-Resource-Name-In-Location": "true"},
        auth=ADMIN,
        timeout=10,
    )
    assert r.status_code == 201 and r.headers["Location"] == "/api/v2.0/projects/located"
    r = requests.post(
        api(server, "/projects"), json={"project_name": "by-id"}, auth=ADMIN, timeout=10
    )
    assert r.status_code == 201
    project_id = r.headers["Location"].rsplit("/", 1)[1]
    assert project_id.isdigit()
    got = requests.get(api(server, f"/projects/{project_id}"), auth=ADMIN, timeout=10)
    assert got.json()["name"] == "by-id"


def test_bodies_that_do_not_fit_are_422(server: InProcessServer) -> None:
    for body in (b"not json", b"[]", b'{"project_name": 5}', b""):
        r = requests.post(
            api(server, "/projects"),
            data=body,
            headers={"Content-Type": "application/json"},
            auth=ADMIN,
            timeout=10,
        )
        assert r.status_code == 422, body
        assert r.json()["errors"][0]["code"] == "UNPROCESSABLE_ENTITY"


def test_a_page_far_past_the_end_is_empty_not_an_error(server: InProcessServer) -> None:
    # (page - 1) * page_size overflows a 64-bit offset: found by the schemathesis run
    for path in ("/projects", "/audit-logs", "/auditlog-exts", "/users"):
        r = requests.get(api(server, f"{path}?page={2**62}&page_size=100"), auth=ADMIN, timeout=10)
        assert r.status_code == 200, (path, r.text)
        assert r.json() == []
