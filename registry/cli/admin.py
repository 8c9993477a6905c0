"""``wharf admin …``: users, projects, members and robots from the command line, through
the same service functions as the management API (acting as the system)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from wharf.auth.errors import AuthError
from wharf.auth.models import ROLE_NAMES, Role
from wharf.auth.principals import SYSTEM_PRINCIPAL
from wharf.auth.service import AuthService
from wharf.registry.config import Settings, load_settings
from wharf.registry.wiring import make_auth, make_database

Command = Callable[[AuthService, argparse.Namespace], Awaitable[int]]


def _password(args: argparse.Namespace) -> str:
    if args.password is not None:
        return str(args.password)
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if os.environ.get("WHARF_NEW_PASSWORD"):
        return os.environ["WHARF_NEW_PASSWORD"]
    return getpass.getpass("password: ")


def _role(text: str) -> Role:
    by_name = {name.lower(): role for role, name in ROLE_NAMES.items()}
    if text.isdigit():
        return Role(int(text))
    try:
        return by_name[text.lower().replace("-", "").replace("_", "")]
    except KeyError:
        raise argparse.ArgumentTypeError(
            "role: projectAdmin, maintainer, developer, guest, limitedGuest (or 1-5)"
        ) from None


async def _create_user(auth: AuthService, args: argparse.Namespace) -> int:
    user = await auth.users.create(
        SYSTEM_PRINCIPAL,
        args.username,
        _password(args),
        email=args.email or "",
        realname=args.realname or "",
        sysadmin=args.admin,
        check=False,  # bootstrap and scripts: no email needed
    )
    print(f"created user {user.username} (id {user.id}{', system admin' if user.sysadmin else ''})")
    return 0


async def _set_password(auth: AuthService, args: argparse.Namespace) -> int:
    user = await auth.users.find(SYSTEM_PRINCIPAL, args.username)
    await auth.users.set_password(SYSTEM_PRINCIPAL, user.id, _password(args))
    print(f"password of {user.username} changed")
    return 0


async def _enable(auth: AuthService, args: argparse.Namespace, enabled: bool) -> int:
    user = await auth.users.find(SYSTEM_PRINCIPAL, args.username)
    await auth.users.update(SYSTEM_PRINCIPAL, user.id, enabled=enabled)
    print(f"user {user.username} {'enabled' if enabled else 'disabled'}")
    return 0


async def _create_project(auth: AuthService, args: argparse.Namespace) -> int:
    project = await auth.projects.create(SYSTEM_PRINCIPAL, args.name, public=args.public)
    print(f"created {'public' if project.public else 'private'} project {project.name}")
    return 0


async def _add_member(auth: AuthService, args: argparse.Namespace) -> int:
    member = await auth.members.add(SYSTEM_PRINCIPAL, args.project, args.username, args.role)
    print(f"{member.username} is {ROLE_NAMES[member.role]} of {args.project}")
    return 0


async def _create_robot(auth: AuthService, args: argparse.Namespace) -> int:
    actions = frozenset(a.strip() for a in args.actions.split(",") if a.strip())
    created = await auth.robots.create(
        SYSTEM_PRINCIPAL,
        args.name,
        {args.project: actions},
        duration_days=args.days,
        description=args.description or "",
    )
    print(f"name:   {created.robot.name}")
    print(f"secret: {created.secret}")
    print("(the secret is shown only now)", file=sys.stderr)
    return 0


def _run(settings: Settings, command: Command, args: argparse.Namespace) -> int:
    async def go() -> int:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        database = make_database(settings)
        auth = make_auth(settings, database)
        await auth.store.open()  # opens the database: brings the schema up to date
        try:
            await auth.bootstrap(settings.data_dir)
            return await command(auth, args)
        except AuthError as exc:
            print(f"wharf admin: {exc.message}", file=sys.stderr)
            return 1
        finally:
            await auth.store.close()

    return asyncio.run(go())


def add_admin_parser(sub: Any) -> None:
    admin = sub.add_parser("admin", help="manage users, projects, members and robots")
    admin.add_argument("--config", help="YAML config file (default: $WHARF_CONFIG)")
    admin.add_argument("--data", help="data directory (default ./data)")
    cmds = admin.add_subparsers(dest="admin_command", required=True)

    def password_args(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--password", help="(else --password-stdin, $WHARF_NEW_PASSWORD, or a prompt)"
        )
        p.add_argument("--password-stdin", action="store_true")

    p = cmds.add_parser("create-user", help="create a user")
    p.add_argument("username")
    p.add_argument("--email")
    p.add_argument("--realname")
    p.add_argument("--admin", action="store_true", help="make a system admin")
    password_args(p)
    p.set_defaults(admin_func=_create_user)

    p = cmds.add_parser("set-password", help="set a user's password")
    p.add_argument("username")
    password_args(p)
    p.set_defaults(admin_func=_set_password)

    p = cmds.add_parser("disable-user", help="disable a user (their tokens stop working)")
    p.add_argument("username")
    p.set_defaults(admin_func=lambda a, n: _enable(a, n, False))

    p = cmds.add_parser("enable-user", help="enable a user again")
    p.add_argument("username")
    p.set_defaults(admin_func=lambda a, n: _enable(a, n, True))

    p = cmds.add_parser("create-project", help="create a project")
    p.add_argument("name")
    p.add_argument("--public", action="store_true", help="anonymous pull")
    p.set_defaults(admin_func=_create_project)

    p = cmds.add_parser("add-member", help="give a user a role in a project")
    p.add_argument("project")
    p.add_argument("username")
    p.add_argument("--role", type=_role, required=True)
    p.set_defaults(admin_func=_add_member)

    p = cmds.add_parser("create-robot", help="create a project robot account")
    p.add_argument("project")
    p.add_argument("name")
    p.add_argument("--actions", default="pull", help="comma-separated: pull,push,delete")
    p.add_argument("--days", type=int, default=-1, help="expiry in days (-1: never)")
    p.add_argument("--description")
    p.set_defaults(admin_func=_create_robot)

    admin.set_defaults(func=_cmd_admin)


def _cmd_admin(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {}
    if args.data is not None:
        overrides["data_dir"] = args.data
    settings = load_settings(args.config or os.environ.get("WHARF_CONFIG"), overrides)
    command: Command = args.admin_func
    return _run(settings, command, args)
