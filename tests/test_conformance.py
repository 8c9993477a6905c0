"""The project's own OCI conformance suite, run against a real Wharf process."""

from __future__ import annotations

import io

from conformance import run

from .helpers import Server


def test_conformance_suite_passes_in_full(wharf: Server) -> None:
    out = io.StringIO()
    report = run(wharf.url, out=out)
    assert report.passed > 50, out.getvalue()
    assert report.ok, "\n".join(f"{r.id}: {r.reason}" for r in report.failures())
    assert report.skipped == 0, out.getvalue()
