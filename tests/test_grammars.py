"""Parsers of names, tags, digests, ranges and request paths."""

from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wharf.registry.http.v2.routes import Endpoint, NotARoute, parse_route
from wharf.registry.oci.errors import RegistryError
from wharf.registry.oci.names import (
    Digest,
    is_valid_name,
    is_valid_tag,
    parse_digest,
    parse_reference,
)
from wharf.registry.oci.ranges import ByteRange, Unsatisfiable, parse_content_range, parse_range

SPEC_NAME = re.compile(r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$")
SPEC_TAG = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")

component = st.from_regex(r"\A[a-z0-9]{1,6}((\.|_|__|-{1,3})[a-z0-9]{1,6}){0,2}\Z")
names = st.lists(component, min_size=1, max_size=4).map("/".join)


@given(names)
def test_generated_names_are_valid(name: str) -> None:
    assert is_valid_name(name) == (len(name) <= 255)


@given(st.text(alphabet="abcAZ09._-/%:@ ", max_size=40))
def test_name_validation_matches_spec_regex(text: str) -> None:
    assert is_valid_name(text) == bool(SPEC_NAME.match(text))


@given(st.text(alphabet="abcAZ09._-:/ ", max_size=140))
def test_tag_validation_matches_spec_regex(text: str) -> None:
    assert is_valid_tag(text) == bool(SPEC_TAG.match(text))


def test_name_length_limit() -> None:
    assert is_valid_name("a" * 255)
    assert not is_valid_name("a" * 256)


@given(st.binary(max_size=64), st.sampled_from(["sha256", "sha512"]))
def test_digest_round_trip(data: bytes, algorithm: str) -> None:
    text = f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"
    digest = parse_digest(text)
    assert str(digest) == text
    assert digest.key == f"blobs/{algorithm}/{digest.hex[:2]}/{digest.hex}"


@pytest.mark.parametrize(
    "text",
    [
        "sha256:abc",
        "sha256:" + "A" * 64,
        "md5:" + "a" * 32,
        "sha256" + "a" * 64,
        "sha256:" + "g" * 64,
        "sha256:../../" + "a" * 58,
        "",
    ],
)
def test_bad_digests_are_rejected(text: str) -> None:
    with pytest.raises(RegistryError) as info:
        parse_digest(text)
    assert info.value.error.code == "DIGEST_INVALID"


def test_reference_is_tag_or_digest() -> None:
    assert parse_reference("latest") == "latest"
    assert isinstance(parse_reference("sha256:" + "0" * 64), Digest)
    with pytest.raises(RegistryError):
        parse_reference("a:b")
    with pytest.raises(RegistryError):
        parse_reference("-bad")


@given(st.integers(0, 10_000), st.integers(0, 10_000), st.integers(1, 10_000))
def test_range_within_bounds(start: int, end: int, size: int) -> None:
    header = f"bytes={start}-{end}"
    try:
        result = parse_range(header, size)
    except Unsatisfiable:
        assert start >= size
        return
    if end < start:
        assert result is None
    else:
        assert result == ByteRange(start, min(end, size - 1))
        assert 0 <= result.start <= result.end < size


@given(st.integers(1, 10_000), st.integers(1, 20_000))
def test_suffix_range(size: int, suffix: int) -> None:
    result = parse_range(f"bytes=-{suffix}", size)
    assert result is not None
    assert result.end == size - 1
    assert result.length == min(size, suffix)


def test_range_edge_cases() -> None:
    assert parse_range("bytes=0-", 10) == ByteRange(0, 9)
    assert parse_range("items=0-1", 10) is None
    assert parse_range("bytes=0-1,3-4", 10) is None
    with pytest.raises(Unsatisfiable):
        parse_range("bytes=10-", 10)
    with pytest.raises(Unsatisfiable):
        parse_range("bytes=-0", 10)


@given(st.integers(0, 2**40), st.integers(0, 2**40))
def test_content_range(start: int, end: int) -> None:
    parsed = parse_content_range(f"{start}-{end}")
    if end < start:
        assert parsed is None
    else:
        assert parsed == ByteRange(start, end)
    assert parse_content_range(f"bytes {start}-{end}/*") == parsed


def test_routes() -> None:
    assert parse_route("/v2/").endpoint is Endpoint.BASE
    assert parse_route("/v2/_catalog").endpoint is Endpoint.CATALOG
    r = parse_route("/v2/a/blobs/b/blobs/sha256:00")
    assert (r.endpoint, r.name, r.arg) == (Endpoint.BLOB, "a/blobs/b", "sha256:00")
    r = parse_route("/v2/a/manifests/tags/list")
    assert (r.endpoint, r.name) == (Endpoint.TAGS, "a/manifests")
    r = parse_route("/v2/x/y/blobs/uploads/")
    assert (r.endpoint, r.name, r.arg) == (Endpoint.UPLOAD_START, "x/y", "")
    r = parse_route("/v2/x/blobs/uploads/abc-def")
    assert (r.endpoint, r.arg) == (Endpoint.UPLOAD, "abc-def")
    r = parse_route("/v2/x/referrers/sha256%3Aab")
    assert (r.endpoint, r.arg) == (Endpoint.REFERRERS, "sha256:ab")
    with pytest.raises(NotARoute):
        parse_route("/v2/x/unknown/y")


@pytest.mark.parametrize(
    "path",
    [
        "/v2/../x/manifests/latest",
        "/v2/%2e%2e/x/manifests/latest",
        "/v2/a%2fb/manifests/latest",
        "/v2/a/%2E%2E/blobs/uploads/",
        "/v2/A/tags/list",
        "/v2//a/tags/list",
    ],
)
def test_traversal_names_are_invalid(path: str) -> None:
    with pytest.raises(RegistryError) as info:
        parse_route(path)
    assert info.value.error.code == "NAME_INVALID"


@given(st.text(max_size=60))
def test_route_parser_never_crashes(tail: str) -> None:
    try:
        route = parse_route("/v2/" + tail)
    except (RegistryError, NotARoute):
        return
    assert route.name == "" or is_valid_name(route.name)
