from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wharf.registry.content.hashing import ResumableHash


@settings(max_examples=50)
@given(
    st.binary(max_size=5000),
    st.lists(st.integers(0, 5000), max_size=5),
    st.sampled_from(["sha256", "sha512"]),
)
def test_resumed_hash_equals_hashlib(data: bytes, cuts: list[int], algorithm: str) -> None:
    points = sorted({min(c, len(data)) for c in cuts})
    state = ResumableHash(algorithm).state()
    previous = 0
    for point in [*points, len(data)]:
        h = ResumableHash(algorithm, state)  # a fresh object, as in another process
        h.update(bytearray(data[previous:point]))
        state = h.state()
        previous = point
    assert ResumableHash(algorithm, state).hexdigest() == hashlib.new(algorithm, data).hexdigest()


def test_hexdigest_does_not_finalise_state() -> None:
    h = ResumableHash()
    h.update(b"abc")
    assert h.hexdigest() == h.hexdigest() == hashlib.sha256(b"abc").hexdigest()
    h.update(memoryview(b"def"))
    assert h.hexdigest() == hashlib.sha256(b"abcdef").hexdigest()


def test_bad_state_and_algorithm() -> None:
    with pytest.raises(ValueError):
        ResumableHash("md5")
    with pytest.raises(ValueError):
        ResumableHash("sha256", b"short")
