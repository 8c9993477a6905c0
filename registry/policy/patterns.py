"""Harbor's ``doublestar`` patterns (repository and tag selectors of immutable-tag and
retention rules), compiled once into a regular expression.

The grammar (as github.com/bmatcuk/doublestar v1, which Harbor uses):
- ``*`` any run of characters except ``/``; ``?`` one character except ``/``;
- ``**`` as a whole path component (``**``, ``a/**``, ``**/b``, ``a/**/b``): zero or more
  components; elsewhere it is ``*``;
- ``[abc]``, ``[a-z]``, ``[!a-z]`` / ``[^a-z]``: one character (never ``/``) of a class;
- ``{a,b,c}``: any of the alternatives, each a pattern itself (nesting allowed);
- ``\\x``: the character ``x`` itself.
An empty pattern matches everything (Harbor's rule: no pattern, no restriction).
``BadPattern`` for an unclosed ``[`` or ``{`` or a trailing ``\\``.
"""

from __future__ import annotations

import re
from functools import lru_cache


class BadPattern(ValueError):
    pass


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0

    def parse(self, depth: int = 0) -> str:
        """Regex source up to the end, or (inside braces) up to an unnested ``,``/``}``."""
        out: list[str] = []
        p = self.p
        while self.i < len(p):
            c = p[self.i]
            if depth and c in ",}":
                return "".join(out)
            if c == "\\":
                if self.i + 1 >= len(p):
                    raise BadPattern("a pattern may not end with an escaping backslash")
                out.append(re.escape(p[self.i + 1]))
                self.i += 2
            elif c == "*":
                if p.startswith("**", self.i) and self._whole_component():
                    out.append(self._globstar())
                else:
                    while self.i < len(p) and p[self.i] == "*":
                        self.i += 1
                    out.append("[^/]*")
            elif c == "?":
                out.append("[^/]")
                self.i += 1
            elif c == "[":
                out.append(self._class())
            elif c == "{":
                out.append(self._alternatives(depth))
            else:
                out.append(re.escape(c))
                self.i += 1
        if depth:
            raise BadPattern("unclosed '{' in the pattern")
        return "".join(out)

    def _whole_component(self) -> bool:
        p, i = self.p, self.i
        before = i == 0 or p[i - 1] in "/{,"
        after = i + 2 == len(p) or p[i + 2] in "/},"
        return before and after

    def _globstar(self) -> str:
        """``**`` as a component, with the ``/`` that follows it when there is one."""
        self.i += 2
        if self.i < len(self.p) and self.p[self.i] == "/":
            self.i += 1
            return "(?:[^/]*/)*"  # zero or more whole components, each with its slash
        return ".*"  # at the end: anything, separators included

    def _class(self) -> str:
        p = self.p
        i = self.i + 1
        negate = i < len(p) and p[i] in "!^"
        if negate:
            i += 1
        parts: list[str] = []
        first = True
        while True:
            if i >= len(p):
                raise BadPattern("unclosed '[' in the pattern")
            c = p[i]
            if c == "]" and not first:
                break
            first = False
            if c == "\\":
                if i + 1 >= len(p):
                    raise BadPattern("unclosed '[' in the pattern")
                c = p[i + 1]
                i += 1
            if i + 2 < len(p) and p[i + 1] == "-" and p[i + 2] != "]":
                hi = p[i + 2]
                if hi == "\\":
                    if i + 3 >= len(p):
                        raise BadPattern("unclosed '[' in the pattern")
                    hi = p[i + 3]
                    i += 1
                if hi < c:
                    raise BadPattern(f"bad range {c}-{hi} in the pattern")
                parts.append(f"{re.escape(c)}-{re.escape(hi)}")
                i += 3
            else:
                parts.append(re.escape(c))
                i += 1
        self.i = i + 1
        body = "".join(parts)
        return f"[^/{body}]" if negate else f"(?!/)[{body}]"

    def _alternatives(self, depth: int) -> str:
        self.i += 1  # past "{"
        options: list[str] = []
        while True:
            options.append(self.parse(depth + 1))
            if self.i >= len(self.p):
                raise BadPattern("unclosed '{' in the pattern")
            c = self.p[self.i]
            self.i += 1
            if c == "}":
                return "(?:" + "|".join(options) + ")"


@lru_cache(maxsize=4096)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """The compiled pattern (cached: the same patterns recur across rules and projects)."""
    if pattern == "":
        return re.compile(r"(?s:.*)")
    return re.compile("(?s:" + _Parser(pattern).parse() + ")")


def match(pattern: str, value: str) -> bool:
    return compile_pattern(pattern).fullmatch(value) is not None


def validate(pattern: str) -> None:
    """BadPattern when ``pattern`` is not a valid doublestar pattern."""
    compile_pattern(pattern)
