"""Check registry, results and the runner shared by every workflow module."""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO
from xml.etree import ElementTree as ET

if TYPE_CHECKING:
    from .context import Context

#: Workflow names in the order they run. The first four mirror the official OCI suite.
WORKFLOWS: tuple[str, ...] = ("pull", "push", "discovery", "management", "errors", "names")

PASS = "PASS"
FAIL = "FAIL"
SKIP = "SKIP"


class CheckFailed(Exception):
    """A check found the registry misbehaving."""


class Skip(Exception):
    """A check cannot apply to this registry (with the reason)."""


CheckFn = Callable[["Context"], "str | None"]


@dataclass(frozen=True)
class Check:
    workflow: str
    name: str
    fn: CheckFn


@dataclass(frozen=True)
class CheckResult:
    workflow: str
    name: str
    status: str  # PASS | FAIL | SKIP
    reason: str = ""
    duration: float = 0.0

    @property
    def id(self) -> str:
        return f"{self.workflow}/{self.name}"

    def line(self) -> str:
        text = f"{self.status}  {self.name}"
        return f"{text} -- {self.reason}" if self.reason else text


@dataclass
class Report:
    url: str
    repo: str = ""
    results: list[CheckResult] = field(default_factory=list)

    def _count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def passed(self) -> int:
        return self._count(PASS)

    @property
    def failed(self) -> int:
        return self._count(FAIL)

    @property
    def skipped(self) -> int:
        return self._count(SKIP)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == FAIL]

    def get(self, check_id: str) -> CheckResult:
        """Result by ``workflow/name`` (or bare name if unique)."""
        for r in self.results:
            if check_id in (r.id, r.name):
                return r
        raise KeyError(check_id)

    def summary(self) -> str:
        return f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped"

    def write_junit(self, path: str) -> None:
        suites = ET.Element("testsuites", name="oci-conformance")
        for wf in WORKFLOWS:
            rs = [r for r in self.results if r.workflow == wf]
            if not rs:
                continue
            suite = ET.SubElement(
                suites,
                "testsuite",
                name=wf,
                tests=str(len(rs)),
                failures=str(sum(r.status == FAIL for r in rs)),
                skipped=str(sum(r.status == SKIP for r in rs)),
                time=f"{sum(r.duration for r in rs):.3f}",
            )
            for r in rs:
                case = ET.SubElement(
                    suite,
                    "testcase",
                    classname=f"conformance.{wf}",
                    name=r.name,
                    time=f"{r.duration:.3f}",
                )
                if r.status == FAIL:
                    ET.SubElement(case, "failure", message=r.reason[:500]).text = r.reason
                elif r.status == SKIP:
                    ET.SubElement(case, "skipped", message=r.reason)
                elif r.reason:
                    ET.SubElement(case, "system-out").text = r.reason
        ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)


_CHECKS: list[Check] = []


def check(workflow: str, name: str) -> Callable[[CheckFn], CheckFn]:
    """Register ``fn`` as a check. It passes by returning (optionally a note), fails by
    raising :class:`CheckFailed`, and skips by raising :class:`Skip`."""
    if workflow not in WORKFLOWS:
        raise ValueError(f"unknown workflow {workflow!r}")

    def deco(fn: CheckFn) -> CheckFn:
        if any(c.workflow == workflow and c.name == name for c in _CHECKS):
            raise ValueError(f"duplicate check {workflow}/{name}")
        _CHECKS.append(Check(workflow, name, fn))
        return fn

    return deco


def registered_checks(only: Iterable[str] | None = None) -> list[Check]:
    wanted = set(WORKFLOWS) if only is None else set(only)
    unknown = wanted - set(WORKFLOWS)
    if unknown:
        raise ValueError(f"unknown workflow(s): {', '.join(sorted(unknown))}")
    return [c for wf in WORKFLOWS if wf in wanted for c in _CHECKS if c.workflow == wf]


def run_checks(
    ctx: Context, checks: list[Check], report: Report, out: TextIO | None = None
) -> Report:
    current = ""
    for c in checks:
        if out is not None and c.workflow != current:
            current = c.workflow
            print(f"== {current} ==", file=out, flush=True)
        start = time.monotonic()
        try:
            note = c.fn(ctx)
            result = CheckResult(c.workflow, c.name, PASS, note or "")
        except Skip as e:
            result = CheckResult(c.workflow, c.name, SKIP, str(e))
        except CheckFailed as e:
            result = CheckResult(c.workflow, c.name, FAIL, str(e))
        except Exception as e:  # a crash in a check is a failure, with where it happened
            tb = traceback.extract_tb(e.__traceback__)[-1]
            where = f"{tb.filename.rsplit('/', 1)[-1]}:{tb.lineno}"
            result = CheckResult(c.workflow, c.name, FAIL, f"{type(e).__name__}: {e} ({where})")
        result = CheckResult(
            result.workflow,
            result.name,
            result.status,
            result.reason,
            time.monotonic() - start,
        )
        report.results.append(result)
        if out is not None:
            print(result.line(), file=out, flush=True)
    if out is not None:
        print(report.summary(), file=out, flush=True)
    return report


def default_out() -> TextIO:
    return sys.stdout
