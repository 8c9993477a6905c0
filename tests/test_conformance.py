"""The project's own OCI conformance suite against Wharf: the application in this process
(fast), and a 2-worker `wharf serve` (requests landing on both processes)."""

from __future__ import annotations

import io

import pytest

from conformance import run

from .helpers import Server
from .inproc import InProcessServer


def _passes_in_full(url: str) -> None:
    out = io.StringIO()
    report = run(url, out=out)
    assert report.passed > 50, out.getvalue()
    assert report.ok, "\n".join(f"{r.id}: {r.reason}" for r in report.failures())
    assert report.skipped == 0, out.getvalue()


def test_conformance_suite_passes_in_full(app: InProcessServer) -> None:
    _passes_in_full(app.url)


@pytest.mark.slow
def test_conformance_suite_passes_in_full_across_workers(wharf: Server) -> None:
    _passes_in_full(wharf.url)
