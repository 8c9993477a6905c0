"""First start: the admin user, the public projects (``library``), a token signing key.
Idempotent, so every worker may run it."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from wharf.auth.models import Project, User
from wharf.auth.options import AuthOptions
from wharf.auth.passwords import generate_secret, hash_password
from wharf.auth.store import AuthStore, Conflict
from wharf.auth.tokens import TokenService

log = logging.getLogger("wharf.auth")


async def bootstrap(
    store: AuthStore, tokens: TokenService, options: AuthOptions, data_dir: Path | None
) -> str | None:
    """Returns a message for the operator when a password was generated."""
    await tokens.ensure_signing_key()
    message = None
    if await store.get_user("admin") is not None:
        await ensure_public_projects(store, options)
        return None
    password = options.admin_password or os.environ.get("WHARF_ADMIN_PASSWORD")
    generated = not password
    secret = password or generate_secret(20)
    admin = User("admin", realname="system admin", password_hash=hash_password(secret))
    admin.sysadmin = True
    if await store.create_first_admin(admin):
        if generated:
            # the password goes to the log once (and to a 0600 file); the returned
            # message for the console only says where it is
            log.warning(f"created user 'admin' with a random password: {secret}")
            message = "created user 'admin' with a random password (see the log)"
            if data_dir is not None:
                path = data_dir / "admin-password"
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(secret + "\n")
                message = f"created user 'admin'; its random password is in {path}"
        else:
            log.info("created user 'admin' with the configured password")
    await ensure_public_projects(store, options)
    return message


async def ensure_public_projects(store: AuthStore, options: AuthOptions) -> None:
    first_admin = await store.get_user("admin")
    for name in options.public_projects:
        if await store.get_project(name) is None:
            with contextlib.suppress(Conflict):
                await store.create_project(
                    Project(name, public=True, owner_id=first_admin.id if first_admin else None)
                )
