"""A throwaway OpenLDAP server (Debian's ``slapd``) for the LDAP tests.

Its own cn=config directory (``slapadd -n 0``) under a temporary folder, run as root on a
free port with ``ldap://`` (StartTLS offered) and ``ldaps://``, a certificate from a
self-made CA; nothing system-wide is touched. The ``memberof`` overlay keeps ``memberOf``
on members (users and nested groups), ``ppolicy`` honours locked accounts. The tests
change the directory through ``Slapd.admin()`` (an ``ldap3`` connection as the root DN).
Starts in well under a second.

    with run_slapd(tmp) as ldap:
        ldap.url, ldap.ldaps_url, ldap.ca_file, ldap.base
        ldap.add_user("alice", "Alice-Pass-1", groups=[...])
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ldap3
import pytest

from tests.helpers import free_port
from tests.tls import make_ca_and_server

SLAPD = Path("/usr/sbin/slapd")
SLAPADD = Path("/usr/sbin/slapadd")
BASE = "dc=example,dc=org"
ADMIN_DN = f"cn=admin,{BASE}"
ADMIN_PASSWORD = "Directory-Root-1"
SEARCH_DN = f"cn=wharf,ou=services,{BASE}"
SEARCH_PASSWORD = "Search-Account-1"
PEOPLE = f"ou=people,{BASE}"
GROUPS = f"ou=groups,{BASE}"


def slapd_available() -> str | None:
    if not SLAPD.exists() or not SLAPADD.exists():
        return "slapd is not installed (bash tests/system-deps.sh)"
    if os.geteuid() != 0:
        return "the throwaway slapd runs as root"
    return None


def _config(folder: Path, ca: Path, cert: Path, key: Path) -> str:
    return f"""dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {folder}/slapd.pid
olcArgsFile: {folder}/slapd.args
olcTLSCACertificateFile: {ca}
olcTLSCertificateFile: {cert}
olcTLSCertificateKeyFile: {key}

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: memberof
olcModuleLoad: ppolicy

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/nis.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {BASE}
olcRootDN: {ADMIN_DN}
olcRootPW: {ADMIN_PASSWORD}
olcDbDirectory: {folder}/db
olcDbMaxSize: 67108864
olcAccess: {{0}}to attrs=userPassword by self write by anonymous auth by * none
olcAccess: {{1}}to * by users read by * none

dn: olcOverlay={{0}}memberof,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOf
olcOverlay: {{0}}memberof
olcMemberOfRefInt: TRUE
olcMemberOfGroupOC: groupOfNames
olcMemberOfMemberAD: member
olcMemberOfMemberOfAD: memberOf

dn: olcOverlay={{1}}ppolicy,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcPPolicyConfig
olcOverlay: {{1}}ppolicy
olcPPolicyDefault: cn=default,ou=policies,{BASE}
olcPPolicyUseLockout: TRUE
"""


_SKELETON = f"""dn: {BASE}
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,{BASE}
objectClass: organizationalUnit
ou: people

dn: ou=groups,{BASE}
objectClass: organizationalUnit
ou: groups

dn: ou=services,{BASE}
objectClass: organizationalUnit
ou: services

dn: ou=policies,{BASE}
objectClass: organizationalUnit
ou: policies

dn: cn=default,ou=policies,{BASE}
objectClass: pwdPolicy
objectClass: device
cn: default
pwdAttribute: userPassword
pwdLockout: TRUE

dn: {SEARCH_DN}
objectClass: inetOrgPerson
cn: wharf
sn: service
userPassword: {SEARCH_PASSWORD}
"""


@dataclass
class Slapd:
    folder: Path
    port: int
    tls_port: int
    ca_file: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.tls_port}"

    base = BASE
    search_dn = SEARCH_DN
    search_password = SEARCH_PASSWORD

    def settings(self, **extra: object) -> dict[str, object]:
        """Wharf's ``auth`` settings for this directory (LDAP mode)."""
        return {
            "mode": "ldap",
            "ldap_url": self.url,
            "ldap_base_dn": PEOPLE,
            "ldap_search_dn": SEARCH_DN,
            "ldap_search_password": SEARCH_PASSWORD,
            "ldap_uid": "uid",
            "ldap_filter": "(objectClass=inetOrgPerson)",
            "ldap_group_base_dn": GROUPS,
            "ldap_group_search_filter": "(objectClass=groupOfNames)",
            "ldap_group_attribute_name": "cn",
            "ldap_group_membership_attribute": "memberOf",
            "ldap_timeout": 3,
            **extra,
        }

    def start(self) -> None:
        urls = f"{self.url}/ {self.ldaps_url}/"
        log = (self.folder / "slapd.log").open("ab")
        # -d 0: stay in the foreground as our child (so we hold its pid), logging nothing
        self.process = subprocess.Popen(
            [str(SLAPD), "-F", str(self.folder / "config"), "-h", urls, "-d", "0"],
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = ldap3.Connection(self.url, ADMIN_DN, ADMIN_PASSWORD, receive_timeout=2)
                if conn.bind():
                    conn.unbind()
                    return
            except ldap3.core.exceptions.LDAPException:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "slapd did not start: " + (self.folder / "slapd.log").read_text()[-2000:]
                )
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    @contextlib.contextmanager
    def admin(self) -> Iterator[ldap3.Connection]:
        """A connection bound as the root DN (unbound at the end)."""
        conn = ldap3.Connection(self.url, ADMIN_DN, ADMIN_PASSWORD, raise_exceptions=True)
        conn.bind()
        try:
            yield conn
        finally:
            conn.unbind()

    def add_user(
        self,
        uid: str,
        password: str,
        *,
        mail: str = "",
        cn: str = "",
        groups: tuple[str, ...] = (),
    ) -> str:
        dn = f"uid={uid},{PEOPLE}"
        with self.admin() as conn:
            conn.add(
                dn,
                ["inetOrgPerson"],
                {
                    "cn": cn or uid.title(),
                    "sn": uid,
                    "uid": uid,
                    "mail": mail or f"{uid}@example.org",
                    "userPassword": password,
                },
            )
            for group in groups:
                self._member(conn, group, dn, ldap3.MODIFY_ADD)
        return dn

    def add_group(self, cn: str, members: tuple[str, ...]) -> str:
        """A groupOfNames with ``members`` (DNs of users or of other groups)."""
        dn = f"cn={cn},{GROUPS}"
        with self.admin() as conn:
            conn.add(dn, ["groupOfNames"], {"cn": cn, "member": list(members)})
        return dn

    def join(self, group_dn: str, member_dn: str) -> None:
        with self.admin() as conn:
            self._member(conn, group_dn, member_dn, ldap3.MODIFY_ADD)

    def leave(self, group_dn: str, member_dn: str) -> None:
        with self.admin() as conn:
            self._member(conn, group_dn, member_dn, ldap3.MODIFY_DELETE)

    @staticmethod
    def _member(conn: ldap3.Connection, group: str, member: str, how: str) -> None:
        conn.modify(group, {"member": [(how, [member])]})

    def modify(self, dn: str, changes: dict[str, list[tuple[str, list[str]]]]) -> None:
        with self.admin() as conn:
            conn.modify(dn, changes)

    def rename(self, dn: str, new_uid: str) -> str:
        """Rename a user: a new RDN (uid) and uid attribute; the entryUUID stays."""
        with self.admin() as conn:
            conn.modify_dn(dn, f"uid={new_uid}", delete_old_dn=True)
        return f"uid={new_uid},{PEOPLE}"

    def lock(self, dn: str) -> None:
        """Lock the account for good (ppolicy's administrative lock)."""
        self.modify(dn, {"pwdAccountLockedTime": [(ldap3.MODIFY_REPLACE, ["000001010000Z"])]})


@contextlib.contextmanager
def run_slapd(folder: Path) -> Iterator[Slapd]:
    why = slapd_available()
    if why:
        pytest.skip(why)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config").mkdir()
    (folder / "db").mkdir()
    ca, cert, key = make_ca_and_server(folder, "slapd")
    (folder / "config.ldif").write_text(_config(folder, ca, cert, key))
    (folder / "data.ldif").write_text(_SKELETON)
    for number, ldif in (("0", "config.ldif"), ("1", "data.ldif")):
        subprocess.run(
            [str(SLAPADD), "-n", number, "-F", str(folder / "config"), "-l", str(folder / ldif)],
            check=True,
            capture_output=True,
        )
    server = Slapd(folder, free_port(), free_port(), ca)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder / "db", ignore_errors=True)
