"""The `wharf` command."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from wharf.db.migrate import SchemaTooNew
from wharf.registry.config import ConfigError, load_settings
from wharf.registry.logs import setup_logging


def _settings(args: argparse.Namespace, **extra: Any) -> Any:
    overrides: dict[str, Any] = {"listen": args.listen, "workers": args.workers, **extra}
    if args.data is not None:
        overrides["data_dir"] = args.data
    return load_settings(args.config or os.environ.get("WHARF_CONFIG"), overrides)


def _cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    setup_logging(settings.log.level)
    from wharf.registry.http.server import serve

    return serve(settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wharf", description="Wharf container registry")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the registry")
    serve.add_argument("--config", help="YAML config file (default: $WHARF_CONFIG)")
    serve.add_argument("--listen", help="HOST:PORT to listen on (default 127.0.0.1:5000)")
    serve.add_argument("--data", help="data directory (default ./data)")
    serve.add_argument("--workers", type=int, help="worker processes (default: one per core)")
    serve.set_defaults(func=_cmd_serve)

    from wharf.registry.cli.admin import add_admin_parser

    add_admin_parser(sub)
    from wharf.registry.cli.migrate import add_migrate_parser

    add_migrate_parser(sub)
    from wharf.registry.cli.gc import add_gc_parser

    add_gc_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except (ConfigError, SchemaTooNew) as exc:
        print(f"wharf: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
