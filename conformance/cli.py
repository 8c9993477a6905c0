"""Command line: ``python -m conformance --url http://127.0.0.1:5000``."""

from __future__ import annotations

import argparse
import os
import sys

from . import run
from .framework import WORKFLOWS


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="python -m conformance",
        description="OCI distribution-spec v1.1 conformance checks against a registry.",
    )
    p.add_argument(
        "--url", default=os.environ.get("OCI_ROOT_URL"), help="registry root URL (env OCI_ROOT_URL)"
    )
    p.add_argument(
        "--namespace",
        default=None,
        help="repository name prefix (env OCI_NAMESPACE; default conformance/test)",
    )
    p.add_argument(
        "--crossmount-namespace",
        default=None,
        help="repository to mount blobs into (env OCI_CROSSMOUNT_NAMESPACE)",
    )
    p.add_argument("--username", default=None, help="env OCI_USERNAME")
    p.add_argument("--password", default=None, help="env OCI_PASSWORD")
    p.add_argument(
        "--only", default=None, help=f"comma-separated workflows to run: {','.join(WORKFLOWS)}"
    )
    p.add_argument("--junit", metavar="FILE", default=None, help="write a JUnit XML report")
    p.add_argument(
        "--no-unique", action="store_true", help="use the namespaces verbatim (no per-run suffix)"
    )
    p.add_argument("--timeout", type=float, default=60.0, help="per-request timeout (s)")
    p.add_argument("--insecure", action="store_true", help="skip TLS verification")
    args = p.parse_args(argv)
    if not args.url:
        p.error("--url or OCI_ROOT_URL is required")
    try:
        report = run(
            args.url,
            namespace=args.namespace,
            crossmount_namespace=args.crossmount_namespace,
            username=args.username,
            password=args.password,
            only=args.only,
            unique=not args.no_unique,
            out=sys.stdout,
            junit=args.junit,
            timeout=args.timeout,
            verify_tls=not args.insecure,
        )
    except ValueError as e:
        p.error(str(e))
    return 0 if report.ok else 1
