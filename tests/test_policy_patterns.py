"""The doublestar pattern grammar of immutable-tag and retention selectors, and the
immutable-rule matcher built on it
(``wharf.registry.policy.patterns``), checked with hypothesis against independent oracles:
Python's ``fnmatch`` for the single-component subset, and the definitions of ``**``,
``{a,b}`` and escaping."""

from __future__ import annotations

import fnmatch
import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from wharf.registry.policy.immutable import CompiledRule, Matcher
from wharf.registry.policy.patterns import BadPattern, match, validate

WORD = st.text(alphabet="abc.-_", min_size=0, max_size=6)
COMPONENT = st.text(alphabet="abc.-_", min_size=1, max_size=5)
PATH = st.lists(COMPONENT, min_size=1, max_size=4).map("/".join)


def escaped(text: str) -> str:
    return "".join("\\" + c for c in text)


@given(st.text(alphabet="ab*?[]!-c", max_size=10), st.text(alphabet="abc-!]", max_size=8))
def test_one_component_agrees_with_fnmatch(pattern: str, value: str) -> None:
    """Without ``/``, ``**``, braces, ``^`` and backslashes, doublestar is fnmatch."""
    assume("**" not in pattern and pattern != "")  # empty: "no restriction" (below)
    try:
        validate(pattern)
    except BadPattern:
        return  # fnmatch reads an unclosed or reversed class differently (literally)
    expected = re.fullmatch(fnmatch.translate(pattern), value, re.DOTALL) is not None
    assert match(pattern, value) == expected, (pattern, value)


@given(st.text(min_size=1, max_size=12), st.text(max_size=12))
def test_escaped_text_matches_only_itself(text: str, other: str) -> None:
    assert match(escaped(text), text)
    assert match(escaped(text), other) == (other == text)


@given(WORD, WORD, st.text(alphabet="abc/.", max_size=8))
def test_star_never_crosses_a_slash(prefix: str, suffix: str, middle: str) -> None:
    pattern = escaped(prefix) + "*" + escaped(suffix)
    assert match(pattern, prefix + middle + suffix) == ("/" not in middle)


@given(PATH)
def test_globstar_matches_every_path(path: str) -> None:
    assert match("**", path)
    assert match("", path)  # no pattern: no restriction (Harbor's rule)


@given(st.lists(COMPONENT, max_size=3), COMPONENT, st.lists(COMPONENT, max_size=3))
def test_globstar_component_spans_any_depth(before: list[str], last: str, extra: list[str]) -> None:
    path = "/".join([*before, last])
    assert match(f"**/{escaped(last)}", path)
    assert match(f"{escaped(last)}/**", "/".join([last, "x", *extra]))
    middle = "/".join(["a", *extra, "z"]) if extra else "a/z"
    assert match("a/**/z", middle)
    # a non-component ``**`` is a ``*``: it stays within one component
    assert match(f"x**{escaped(last)}", f"x{last}")
    assert not match(f"x**{escaped(last)}", f"x/{last}")


@given(st.lists(WORD, min_size=1, max_size=4), st.text(alphabet="abc.-_", max_size=6))
def test_braces_are_alternatives(options: list[str], value: str) -> None:
    pattern = "{" + ",".join(escaped(o) for o in options) + "}"
    assert match(pattern, value) == (value in options)


@given(
    st.sampled_from(["v1*", "v?", "[a-c]x", "{a,b*}"]),
    st.sampled_from(["v1*", "rc", "*"]),
    st.text(alphabet="vabcx1rc.", max_size=6),
)
def test_nested_alternatives_are_unions(first: str, second: str, value: str) -> None:
    union = "{" + first + "," + second + "}"
    assert match(union, value) == (match(first, value) or match(second, value))


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("**", "library/nginx", True),
        ("library/*", "library/nginx", True),
        ("library/*", "library/a/b", False),
        ("library/**", "library/a/b", True),
        ("**/nginx", "nginx", True),
        ("**/nginx", "a/b/nginx", True),
        ("v{1,2}.*", "v1.0", True),
        ("v{1,2}.*", "v3.0", False),
        ("{release-*,latest}", "latest", True),
        ("[!0-9]*", "v1", True),
        ("[!0-9]*", "1v", False),
        ("[^0-9]*", "1v", False),
        ("a?c", "a/c", False),
        ("a[/]c", "a/c", False),
        ("\\*", "*", True),
        ("\\*", "x", False),
    ],
)
def test_examples(pattern: str, value: str, expected: bool) -> None:
    assert match(pattern, value) == expected


@pytest.mark.parametrize("pattern", ["[abc", "{a,b", "a\\", "[z-a]", "{a,{b}"])
def test_bad_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(BadPattern):
        validate(pattern)


TAG_PATTERNS = st.sampled_from(["v*", "v{1,2}.*", "rc-?", "**", "[a-c]*", "latest", ""])
REPO_PATTERNS = st.sampled_from(["**", "app/*", "app/**", "{web,api}", "*"])
RULES = st.lists(
    st.tuples(st.booleans(), REPO_PATTERNS, st.booleans(), TAG_PATTERNS), max_size=8
).map(
    lambda specs: tuple(
        CompiledRule(n + 1, repo_ex, repo, tag_ex, tag)
        for n, (repo_ex, repo, tag_ex, tag) in enumerate(specs)
    )
)


@given(
    RULES,
    st.sampled_from(["app/web", "web", "api", "app/x/y", "other"]),
    st.text(alphabet="vrc-12.alestb", max_size=6),
)
def test_matcher_agrees_with_its_rules_one_by_one(
    rules: tuple[CompiledRule, ...], path: str, tag: str
) -> None:
    """The matcher folds a repository's ``matches`` rules into one expression: it holds a
    tag exactly when some rule, checked alone, does — and names a rule that does."""
    matcher = Matcher(rules)
    found = matcher.holding(path, tag)
    assert (found is not None) == any(r.holds(path, tag) for r in rules)
    if found is not None:
        assert found.holds(path, tag)
    assert matcher.holding(path, tag) == found  # the memoised path answers the same
