"""OCI distribution-spec v1.1 conformance suite, runnable against any registry URL.

from conformance import run
report = run("http://127.0.0.1:5000")
assert report.ok, report.failures()
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterable
from typing import TextIO

from . import discovery, errors, management, names, pull, push  # noqa: F401  (register checks)
from .client import Client
from .context import Context
from .framework import WORKFLOWS, CheckResult, Report, registered_checks, run_checks

__all__ = ["WORKFLOWS", "CheckResult", "Report", "run"]

DEFAULT_NAMESPACE = "conformance/test"


def run(
    url: str,
    *,
    namespace: str | None = None,
    crossmount_namespace: str | None = None,
    username: str | None = None,
    password: str | None = None,
    only: str | Iterable[str] | None = None,
    unique: bool = True,
    out: TextIO | None = None,
    junit: str | None = None,
    timeout: float = 60.0,
    verify_tls: bool = True,
) -> Report:
    """Run the suite against ``url`` and return the :class:`Report`.

    ``namespace``/``crossmount_namespace`` default to ``$OCI_NAMESPACE`` /
    ``$OCI_CROSSMOUNT_NAMESPACE`` then ``conformance/test``; with ``unique`` (default) a
    per-run suffix is appended so reruns never collide. ``only`` selects workflows (a name,
    a comma-separated string or an iterable). ``out`` receives the per-check lines
    (None: silent). Credentials default to ``$OCI_USERNAME``/``$OCI_PASSWORD``."""
    run_id = secrets.token_hex(4)
    base = namespace or os.environ.get("OCI_NAMESPACE") or DEFAULT_NAMESPACE
    repo = f"{base}-{run_id}" if unique else base
    mount_base = crossmount_namespace or os.environ.get("OCI_CROSSMOUNT_NAMESPACE")
    if mount_base:
        mount_repo = f"{mount_base}-{run_id}" if unique else mount_base
    else:
        mount_repo = f"{repo}-mount"
    if isinstance(only, str):
        only = [w.strip() for w in only.split(",") if w.strip()]
    client = Client(
        url,
        username if username is not None else os.environ.get("OCI_USERNAME"),
        password if password is not None else os.environ.get("OCI_PASSWORD"),
        timeout=timeout,
        verify_tls=verify_tls,
    )
    ctx = Context(client=client, repo=repo, mount_repo=mount_repo, run_id=run_id)
    report = Report(url=url, repo=repo)
    checks = registered_checks(only)
    if out is not None:
        print(f"OCI conformance against {url} (repository {repo})", file=out, flush=True)
    run_checks(ctx, checks, report, out)
    if junit:
        report.write_junit(junit)
    return report


def main(argv: list[str] | None = None) -> int:
    from .cli import main as cli_main

    return cli_main(argv if argv is not None else sys.argv[1:])
