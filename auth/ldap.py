"""The LDAP directory as Wharf uses it (``ldap3``, a pure-Python client, run in a small
thread pool off the event loop):

- users are found by a search (``ldap_uid`` = the username, under ``ldap_base_dn``, with
  ``ldap_filter``) made as ``ldap_search_dn``, then their password is checked by binding
  as the entry found (search-then-bind); an empty password is refused before any bind
  (an LDAP bind without one is anonymous and would succeed);
- a user's groups are the values of ``ldap_group_membership_attribute`` (``memberOf``) on
  their entry, and recursively on those groups' entries (nested groups), kept when they
  lie under ``ldap_group_base_dn`` and match ``ldap_group_search_filter``;
- ``ldaps://`` and StartTLS (``ldap_starttls``) verify the server's certificate against
  ``ldap_ca_file`` (or the system's CAs) unless ``ldap_verify_cert`` is off;
- every connect and answer is bounded by ``ldap_timeout``; at most ``ldap_pool_size``
  connections per process, kept open between requests; a directory that is down or
  too slow raises ``DirectoryUnavailable`` (callers answer 503), never hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import queue
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from wharf.auth.settings import ExternalAuthSettings

# ldap3 (with pyasn1, ~5 MiB a process) loads on first use: a registry without LDAP
# never pays for it
if TYPE_CHECKING:
    import ldap3

log = logging.getLogger("wharf.auth.ldap")
T = TypeVar("T")

SCOPES: dict[int, Literal["BASE", "LEVEL", "SUBTREE"]] = {0: "BASE", 1: "LEVEL", 2: "SUBTREE"}
MAX_NESTING = 10  # levels of groups within groups followed
MAX_GROUPS = 1000  # groups read for one user at most
NO_SUCH_OBJECT = 32
INVALID_CREDENTIALS = 49


class DirectoryUnavailable(Exception):
    """The directory could not be asked: down, unreachable, too slow, TLS refused, or the
    search account refused. The message says which, without any secret."""


@dataclass(frozen=True)
class DirectoryUser:
    dn: str
    username: str
    realname: str = ""
    email: str = ""
    uuid: str = ""  # entryUUID (OpenLDAP) or objectGUID (Active Directory); else the DN
    groups: tuple[str, ...] = ()  # direct group DNs (the membership attribute)


@dataclass(frozen=True)
class DirectoryGroup:
    dn: str
    name: str


@dataclass
class Membership:
    """A user's groups (nested ones included) as the directory says now."""

    groups: list[DirectoryGroup] = field(default_factory=list)
    admin: bool = False  # in ldap_group_admin_dn (directly or through nesting)


def normalize_dn(dn: str) -> str:
    """A DN in one spelling (attribute names and values lower-cased, no spaces around
    separators), for comparisons; raises ValueError when it is not a DN."""
    from ldap3.core.exceptions import LDAPInvalidDnError
    from ldap3.utils.dn import parse_dn

    try:
        parts = parse_dn(dn.strip(), escape=False, strip=True)
    except (LDAPInvalidDnError, IndexError, ValueError) as exc:
        raise ValueError(f"not a DN: {dn[:200]!r}") from exc
    if not parts:
        raise ValueError("empty DN")
    return ",".join(f"{attr.lower()}={value.lower()}" for attr, value, _sep in parts)


def under(base: str, dn: str) -> bool:
    """Whether ``dn`` is ``base`` or below it (both already normalized)."""
    return not base or dn == base or dn.endswith("," + base)


def is_dn(text: str) -> bool:
    try:
        normalize_dn(text)
    except ValueError:
        return False
    return True


def _escape(value: str) -> str:
    """``value`` as a literal in a search filter (RFC 4515)."""
    from ldap3.utils.conv import escape_filter_chars

    return str(escape_filter_chars(value))


def _filter(condition: str) -> str:
    condition = condition.strip()
    if condition and not condition.startswith("("):
        condition = f"({condition})"
    return condition


def _first(entry: dict[str, Any], name: str) -> str:
    for key, values in entry.items():
        if key.lower() == name.lower():
            if isinstance(values, list):
                return str(values[0]).strip() if values else ""
            return str(values).strip()
    return ""


def _all(entry: dict[str, Any], name: str) -> list[str]:
    for key, values in entry.items():
        if key.lower() == name.lower():
            if isinstance(values, list):
                return [str(v).strip() for v in values]
            return [str(values).strip()]
    return []


class LdapDirectory:
    """One process's connection pool to the directory the settings describe."""

    def __init__(self, settings: ExternalAuthSettings) -> None:
        problem = settings.ldap_problem()
        if problem:
            raise DirectoryUnavailable(f"LDAP is not configured: {problem}")
        self.settings = settings
        self.timeout = settings.ldap_timeout
        self.server = self._server(settings)
        self._idle: queue.LifoQueue[ldap3.Connection] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(settings.ldap_pool_size)
        self._executor = ThreadPoolExecutor(settings.ldap_pool_size, "wharf-ldap")
        self._closed = False

    @staticmethod
    def _server(settings: ExternalAuthSettings) -> ldap3.Server:
        import ldap3

        url = settings.ldap_url if "://" in settings.ldap_url else "ldap://" + settings.ldap_url
        parts = urllib.parse.urlsplit(url)
        use_ssl = parts.scheme == "ldaps"
        host = parts.hostname or ""
        port = parts.port or (636 if use_ssl else 389)
        tls = None
        if use_ssl or settings.ldap_starttls:
            tls = ldap3.Tls(
                validate=ssl.CERT_REQUIRED if settings.ldap_verify_cert else ssl.CERT_NONE,
                ca_certs_file=settings.ldap_ca_file or None,
                version=ssl.PROTOCOL_TLS_CLIENT,
            )
        return ldap3.Server(
            host,
            port=port,
            use_ssl=use_ssl,
            tls=tls,
            get_info=ldap3.NONE,
            connect_timeout=settings.ldap_timeout,
        )

    # --- running off the loop --------------------------------------------------
    async def run(self, what: str, fn: Callable[[ldap3.Connection], T]) -> T:
        """``fn`` on a pooled connection bound as the search account, in the pool's
        threads; DirectoryUnavailable when the directory can't answer in time."""
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        try:
            # connect + StartTLS + bind + the operations: a few timeouts at most
            return await asyncio.wait_for(
                loop.run_in_executor(self._executor, self._with_connection, fn),
                self.timeout * 3,
            )
        except TimeoutError:
            raise DirectoryUnavailable(
                f"LDAP {what}: no answer from {self.settings.ldap_url} within "
                f"{time.monotonic() - started:.1f}s"
            ) from None

    def _with_connection(self, fn: Callable[[ldap3.Connection], T]) -> T:
        from ldap3.core.exceptions import LDAPException

        if not self._slots.acquire(timeout=self.timeout):
            raise DirectoryUnavailable(
                f"all {self.settings.ldap_pool_size} LDAP connections stayed busy "
                f"for {self.timeout:g}s"
            )
        try:
            for attempt in (1, 2):
                reused = attempt == 1
                try:
                    if not reused:
                        raise queue.Empty
                    conn = self._idle.get_nowait()
                except queue.Empty:
                    conn, reused = self._connect(), False
                try:
                    self._bind_service(conn)
                    result = fn(conn)
                except DirectoryUnavailable:
                    _close(conn)
                    raise
                except LDAPException as exc:
                    _close(conn)
                    if reused:
                        # a pooled connection the server dropped (restarted?): the other
                        # idle ones went the same way; once more on a fresh one
                        self._drain()
                        continue
                    raise DirectoryUnavailable(
                        f"LDAP {self.settings.ldap_url}: {type(exc).__name__}: {exc}"
                    ) from None
                if self._closed:
                    _close(conn)
                else:
                    self._idle.put(conn)
                return result
            raise AssertionError("unreachable")
        finally:
            self._slots.release()

    def _connect(self) -> ldap3.Connection:
        import ldap3
        from ldap3.core.exceptions import LDAPException

        conn = ldap3.Connection(
            self.server,
            auto_bind=ldap3.AUTO_BIND_NONE,
            receive_timeout=max(1, math.ceil(self.timeout)),  # ldap3 packs it as an int
            read_only=True,
            raise_exceptions=False,
            client_strategy=ldap3.SYNC,
        )
        try:
            # ldap3 remembers an address that refused as unusable; a directory that was
            # down must be tried again each time
            self.server.reset_availability()
            conn.open(read_server_info=False)
            starttls = self.settings.ldap_starttls and not self.server.ssl
            if starttls and not conn.start_tls(read_server_info=False):
                raise DirectoryUnavailable(
                    f"LDAP {self.settings.ldap_url}: StartTLS refused: "
                    f"{conn.result.get('description', '')}"
                )
        except LDAPException as exc:
            _close(conn)
            raise DirectoryUnavailable(
                f"LDAP {self.settings.ldap_url}: cannot connect: {type(exc).__name__}: {exc}"
            ) from None
        conn.wharf_bound_as = None  # type: ignore[attr-defined]
        return conn

    def _bind_service(self, conn: ldap3.Connection) -> None:
        import ldap3

        dn = self.settings.ldap_search_dn
        if getattr(conn, "wharf_bound_as", None) == ("service", dn):
            return
        if dn:
            ok = conn.rebind(
                dn, self.settings.ldap_search_password, ldap3.SIMPLE, read_server_info=False
            )
        else:
            ok = conn.rebind(authentication=ldap3.ANONYMOUS, read_server_info=False)
        conn.password = None  # keep no secret on the connection object
        if not ok:
            description = conn.result.get("description", "") if conn.result else ""
            raise DirectoryUnavailable(
                f"LDAP {self.settings.ldap_url}: the search account {dn or '(anonymous)'} "
                f"was refused: {description}"
            )
        conn.wharf_bound_as = ("service", dn)  # type: ignore[attr-defined]

    def _drain(self) -> None:
        while True:
            try:
                _close(self._idle.get_nowait())
            except queue.Empty:
                return

    def close(self) -> None:
        self._closed = True
        self._drain()
        self._executor.shutdown(wait=False)

    # --- what the directory is asked -------------------------------------------
    def _user_attributes(self) -> list[str]:
        s = self.settings
        names = ["uid", "cn", "mail", "email", "displayName", "entryUUID", "objectGUID"]
        for extra in (s.ldap_uid, s.ldap_group_membership_attribute):
            if extra and extra.lower() not in (n.lower() for n in names):
                names.append(extra)
        return names

    def _user_filter(self, username: str) -> str:
        s = self.settings
        match = f"({s.ldap_uid}={_escape(username) if username else '*'})"
        extra = _filter(s.ldap_filter)
        return f"(&{extra}{match})" if extra else match

    def _entries(
        self, conn: ldap3.Connection, base: str, flt: str, scope: int, attrs: list[str]
    ) -> list[tuple[str, dict[str, Any]]]:
        ok = conn.search(
            base,
            flt,
            search_scope=SCOPES[scope],
            attributes=attrs,
            size_limit=0,
            time_limit=max(1, int(self.timeout)),
        )
        if not ok:
            code = conn.result.get("result") if conn.result else None
            if code in (0, NO_SUCH_OBJECT, 4):  # success (none), no such base, size limit
                pass
            else:
                raise DirectoryUnavailable(
                    f"LDAP search under {base!r} failed: {conn.result.get('description')}"
                )
        return [
            (str(e["dn"]), dict(e.get("attributes", {})))
            for e in conn.response or []
            if e.get("type") == "searchResEntry"
        ]

    def _to_user(self, dn: str, attrs: dict[str, Any]) -> DirectoryUser:
        s = self.settings
        uuid = _first(attrs, "entryUUID")
        if not uuid:
            guid = _first(attrs, "objectGUID")
            uuid = guid or f"dn:{normalize_dn(dn)}"
        return DirectoryUser(
            dn=dn,
            username=_first(attrs, s.ldap_uid),
            realname=_first(attrs, "displayName") or _first(attrs, "cn") or _first(attrs, "uid"),
            email=_first(attrs, "mail") or _first(attrs, "email"),
            uuid=uuid,
            groups=tuple(_all(attrs, s.ldap_group_membership_attribute)),
        )

    def _search_users(self, conn: ldap3.Connection, username: str) -> list[DirectoryUser]:
        s = self.settings
        found = self._entries(
            conn, s.ldap_base_dn, self._user_filter(username), s.ldap_scope, self._user_attributes()
        )
        return [self._to_user(dn, attrs) for dn, attrs in found]

    async def search_users(self, username: str) -> list[DirectoryUser]:
        """Users whose ``ldap_uid`` is ``username`` ("" or "*": every user, at most what
        the server returns)."""
        name = "" if username == "*" else username
        return await self.run("user search", lambda conn: self._search_users(conn, name))

    async def find_user(self, username: str) -> DirectoryUser | None:
        """The one entry of ``username``; None when there is none or several."""
        users = await self.search_users(username) if username else []
        exact = [u for u in users if u.username.lower() == username.lower()] or users
        if len(exact) != 1:
            if len(exact) > 1:
                log.warning(
                    "several LDAP entries match one username; refused",
                    extra={"user": username[:255], "entries": len(exact)},
                )
            return None
        return exact[0]

    async def check_password(self, user: DirectoryUser, password: str) -> bool:
        """Bind as the user's entry; False when refused (wrong password, locked or
        disabled account). Never binds with an empty password."""
        if not password:
            return False

        def bind(conn: ldap3.Connection) -> bool:
            import ldap3

            conn.wharf_bound_as = None  # type: ignore[attr-defined]  # the next use rebinds
            ok = conn.rebind(user.dn, password, ldap3.SIMPLE, read_server_info=False)
            conn.password = None
            if not ok and conn.result and conn.result.get("result") != INVALID_CREDENTIALS:
                log.info(
                    "LDAP bind refused",
                    extra={"dn": user.dn, "reason": conn.result.get("description", "")},
                )
            return bool(ok)

        return await self.run("bind", bind)

    def _read_group(
        self, conn: ldap3.Connection, dn: str
    ) -> tuple[str | None, list[str], bool] | None:
        """(name, parent group DNs, matches the group filter) of the entry ``dn``; None
        when there is no such entry."""
        s = self.settings
        attrs = [s.ldap_group_attribute_name or "cn", s.ldap_group_membership_attribute]
        found = self._entries(conn, dn, "(objectClass=*)", 0, attrs)
        if not found:
            return None
        _dn, entry = found[0]
        matches = True
        if s.ldap_group_search_filter:
            matches = bool(self._entries(conn, dn, _filter(s.ldap_group_search_filter), 0, []))
        name = _first(entry, s.ldap_group_attribute_name or "cn") or None
        return name, _all(entry, s.ldap_group_membership_attribute), matches

    def _membership(self, conn: ldap3.Connection, direct: list[str]) -> Membership:
        s = self.settings
        base = normalize_dn(s.ldap_group_base_dn or s.ldap_base_dn)
        admin = normalize_dn(s.ldap_group_admin_dn) if s.ldap_group_admin_dn else ""
        seen: set[str] = set()
        result = Membership()
        frontier = list(direct)
        for _level in range(MAX_NESTING):
            parents: list[str] = []
            for dn in frontier:
                try:
                    key = normalize_dn(dn)
                except ValueError:
                    continue
                if key in seen or len(seen) >= MAX_GROUPS:
                    continue
                seen.add(key)
                if key == admin:
                    result.admin = True
                read = self._read_group(conn, dn)
                if read is None:
                    continue
                name, above, matches = read
                parents.extend(above)
                if matches and under(base, key):
                    result.groups.append(DirectoryGroup(dn, name or dn))
            if not parents:
                break
            frontier = parents
        return result

    async def membership(self, user: DirectoryUser) -> Membership:
        return await self.run(
            "group search", lambda conn: self._membership(conn, list(user.groups))
        )

    def _search_groups(self, conn: ldap3.Connection, name: str, dn: str) -> list[DirectoryGroup]:
        s = self.settings
        attr = s.ldap_group_attribute_name or "cn"
        base = s.ldap_group_base_dn or s.ldap_base_dn
        scope = s.ldap_group_search_scope
        if dn:
            if not under(normalize_dn(base), normalize_dn(dn)):
                return []
            base, scope = dn, 0
        match = f"({attr}={_escape(name) if name else '*'})"
        extra = _filter(s.ldap_group_search_filter)
        flt = f"(&{extra}{match})" if extra else match
        return [
            DirectoryGroup(found_dn, _first(attrs, attr) or found_dn)
            for found_dn, attrs in self._entries(conn, base, flt, scope, [attr])
        ]

    async def search_groups(self, name: str = "", dn: str = "") -> list[DirectoryGroup]:
        """Groups by name (``ldap_group_attribute_name``) or by DN, under the group base."""
        return await self.run("group search", lambda conn: self._search_groups(conn, name, dn))

    async def ping(self) -> None:
        """Connect and bind as the search account (DirectoryUnavailable when that fails)."""
        await self.run("ping", lambda conn: None)


def _close(conn: ldap3.Connection) -> None:
    with contextlib.suppress(Exception):
        conn.unbind()


@contextlib.contextmanager
def directory_for(settings: ExternalAuthSettings) -> Iterator[LdapDirectory]:
    """A throwaway directory client (``/ldap/ping`` with settings under test)."""
    directory = LdapDirectory(settings)
    try:
        yield directory
    finally:
        directory.close()
