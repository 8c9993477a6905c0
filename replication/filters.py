"""What a policy selects and where it lands: Harbor's filters (repository name and tag
globs, included or excluded; the resource kind) and its destination naming (a namespace
replacing some leading path components).

Globs as Harbor's (doublestar): ``*`` any run of characters but ``/``, ``**`` any run of
characters, ``?`` one character but ``/``, ``[abc]`` / ``[!abc]`` a class, ``{a,b}``
alternatives; everything else literal."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

from wharf.replication.models import Filter

FILTER_TYPES = ("name", "tag", "resource", "label")
DECORATIONS = ("matches", "excludes")
RESOURCE_TYPES = ("image", "artifact")


class InvalidPolicy(ValueError):
    """A policy (filter, naming) that cannot be used."""


@lru_cache(maxsize=512)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """The compiled regular expression of a doublestar glob (InvalidPolicy if malformed)."""
    out: list[str] = []
    i, depth = 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            if pattern.startswith("**", i):
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 2 if pattern.startswith("[!", i) else i + 1)
            if end < 0:
                raise InvalidPolicy(f"unclosed [ in {pattern!r}")
            body = pattern[i + 1 : end]
            negate = body.startswith("!")
            body = body[1:] if negate else body
            escaped = "".join("\\" + ch if ch in "\\^]" else ch for ch in body)
            out.append(f"[{'^' if negate else ''}{escaped}]")
            i = end
        elif c == "{":
            depth += 1
            out.append("(?:")
        elif c == "}" and depth:
            depth -= 1
            out.append(")")
        elif c == "," and depth:
            out.append("|")
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    if depth:
        raise InvalidPolicy(f"unclosed {{ in {pattern!r}")
    try:
        return re.compile("".join(out) + r"\Z", re.DOTALL)
    except re.error as exc:
        raise InvalidPolicy(f"bad pattern {pattern!r}: {exc}") from None


def is_literal(pattern: str) -> bool:
    """A pattern that matches only itself (no wildcard, class, alternative or escape)."""
    return not any(c in pattern for c in "*?[]{}\\")


def glob_match(pattern: str, text: str) -> bool:
    return glob_regex(pattern).match(text) is not None


def check_filters(filters: Iterable[Filter]) -> None:
    """InvalidPolicy for filters Wharf cannot apply (unknown types, bad globs, empty
    label lists)."""
    seen: set[str] = set()
    for f in filters:
        if f.type not in FILTER_TYPES:
            raise InvalidPolicy(
                f"unknown filter type {f.type!r} (one of {', '.join(FILTER_TYPES)})"
            )
        if f.type in seen:
            raise InvalidPolicy(f"more than one {f.type} filter")
        seen.add(f.type)
        if f.decoration not in DECORATIONS:
            raise InvalidPolicy(
                f"filter decoration must be matches or excludes, not {f.decoration!r}"
            )
        if f.type == "label":
            if not f.labels or not all(isinstance(n, str) and n for n in f.labels):
                raise InvalidPolicy("the label filter's value is a list of label names")
        elif not isinstance(f.value, str):
            raise InvalidPolicy(f"the {f.type} filter's value must be a string")
        elif f.type == "resource":
            if f.value not in RESOURCE_TYPES:
                raise InvalidPolicy(f"resource filter must be image or artifact, not {f.value!r}")
        elif not f.value:
            raise InvalidPolicy(f"the {f.type} filter has no pattern")
        else:
            glob_regex(f.value)


def _wanted(filters: Sequence[Filter], kind: str, value: str) -> bool:
    for f in filters:
        if f.type == kind:
            hit = glob_match(f.pattern, value)
            return hit if f.decoration == "matches" else not hit
    return True


def repository_wanted(filters: Sequence[Filter], repo: str) -> bool:
    return _wanted(filters, "name", repo)


def tag_wanted(filters: Sequence[Filter], tag: str) -> bool:
    return _wanted(filters, "tag", tag)


def label_filter(filters: Sequence[Filter]) -> Filter | None:
    return next((f for f in filters if f.type == "label"), None)


def labels_wanted(filters: Sequence[Filter], labels: Iterable[str]) -> bool:
    """Harbor's rule: ``matches`` wants an artifact carrying every label of the filter,
    ``excludes`` leaves out those that carry every one."""
    f = label_filter(filters)
    if f is None:
        return True
    carried = set(labels)
    hit = all(name in carried for name in f.labels)
    return hit if f.decoration == "matches" else not hit


def images_only(filters: Sequence[Filter]) -> bool:
    """A ``resource: image`` filter: container images only (no other OCI artifacts)."""
    return any(
        f.type == "resource" and f.value == "image" and f.decoration == "matches" for f in filters
    )


def destination(repo: str, namespace: str, replace_count: int) -> str:
    """Where ``repo`` lands (Harbor's rule): no namespace keeps the name; with one, a
    replace count of -1 keeps only the last component under the namespace, n >= 0
    replaces the first n components (not the last) by it."""
    if not namespace:
        return repo
    parts = repo.split("/")
    if replace_count < 0:
        prefix = [namespace]
    elif replace_count > len(parts) - 1:
        raise InvalidPolicy(
            f"the repository {repo!r} has only {len(parts) - 1} path components before its "
            f"name, but the destination namespace flattening level is {replace_count}"
        )
    else:
        prefix = [namespace, *parts[replace_count:-1]]
    return "/".join([*prefix, parts[-1]])
