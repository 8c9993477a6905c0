"""A small registry HTTP client: base URL handling, Basic and Docker Bearer-token auth."""

from __future__ import annotations

import base64
import http.client
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from .framework import CheckFailed
from .oci import MANIFEST_ACCEPT, Blob, Manifest

_CHALLENGE_PARAM = re.compile(r'(\w+)\s*=\s*(?:"([^"]*)"|([^,\s]*))')


def parse_challenge(value: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="x",service="y",scope="z"`` -> ("bearer", {...})."""
    scheme, _, rest = value.strip().partition(" ")
    params = {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _CHALLENGE_PARAM.finditer(rest)
    }
    return scheme.lower(), params


def with_query(url: str, **params: str) -> str:
    """Append query params to a (possibly already parameterised) URL."""
    sep = "&" if "?" in url else "?"
    return url + sep + urllib.parse.urlencode(params)


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


class Client:
    def __init__(
        self,
        url: str,
        username: str | None = None,
        password: str | None = None,
        *,
        timeout: float = 60.0,
        verify_tls: bool = True,
    ) -> None:
        self.base = url.rstrip("/")
        self.username = username
        self.password = password
        self.timeout = timeout
        self.session = requests.Session()
        self.session.verify = verify_tls
        # Byte-exact bodies and Content-Length checks: no transparent decompression.
        self.session.headers["Accept-Encoding"] = "identity"
        self._token: str | None = None
        self._scopes: list[str] = []
        self._basic = False

    # -- auth ------------------------------------------------------------------------
    def _auth_header(self) -> dict[str, str]:
        if self._token:
            return {"Authorization": f"Bearer {self._token}"}
        if self._basic and self.username is not None:
            raw = f"{self.username}:{self.password or ''}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        return {}

    def _handle_challenge(self, resp: requests.Response | RawResponse) -> bool:
        """Answer a 401 challenge; True when a retry may succeed."""
        hdr = resp.headers.get("WWW-Authenticate") or resp.headers.get("www-authenticate")
        if not hdr:
            return False
        scheme, params = parse_challenge(hdr)
        if scheme == "basic":
            if self.username is None or self._basic:
                return False
            self._basic = True
            return True
        if scheme != "bearer" or "realm" not in params:
            return False
        scope = params.get("scope")
        new_scopes = [s for s in (scope or "").split(" ") if s and s not in self._scopes]
        if self._token and not new_scopes:
            return False  # the token we have was refused for the scopes asked
        self._scopes.extend(new_scopes)
        query: list[tuple[str, str]] = []
        if params.get("service"):
            query.append(("service", params["service"]))
        query.extend(("scope", s) for s in self._scopes)
        auth = (self.username, self.password or "") if self.username is not None else None
        r = requests.get(
            params["realm"],
            params=query,
            auth=auth,
            timeout=self.timeout,
            verify=self.session.verify,
        )
        if r.status_code != 200:
            # Forget the scopes just added so one refused scope (say, an invalid repository
            # name probed on purpose) does not poison every later token request.
            del self._scopes[len(self._scopes) - len(new_scopes) :]
            raise CheckFailed(f"token endpoint {params['realm']} answered {r.status_code}")
        doc = r.json()
        token = doc.get("token") or doc.get("access_token")
        if not isinstance(token, str):
            raise CheckFailed("token endpoint returned no token")
        self._token = token
        return True

    # -- requests --------------------------------------------------------------------
    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return urllib.parse.urljoin(self.base + "/", path.lstrip("/")) if path else self.base

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
        allow_redirects: bool | None = None,
        stream: bool = False,
    ) -> requests.Response:
        url = self.url(path)
        if allow_redirects is None:
            allow_redirects = method in ("GET", "HEAD")
        for _ in range(3):
            hdrs = {**self._auth_header(), **(headers or {})}
            resp = self.session.request(
                method,
                url,
                headers=hdrs,
                data=data,
                timeout=self.timeout,
                allow_redirects=allow_redirects,
                stream=stream,
            )
            if resp.status_code != 401 or not self._handle_challenge(resp):
                return resp
        return resp

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def head(self, path: str, **kw: Any) -> requests.Response:
        return self.request("HEAD", path, **kw)

    def raw_request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> RawResponse:
        """Send ``path`` byte-for-byte (no client-side dot-segment or percent normalisation)."""
        parts = urllib.parse.urlsplit(self.base)
        prefix = parts.path.rstrip("/")
        for _ in range(3):
            conn: http.client.HTTPConnection
            if parts.scheme == "https":
                conn = http.client.HTTPSConnection(parts.netloc, timeout=self.timeout)
            else:
                conn = http.client.HTTPConnection(parts.netloc, timeout=self.timeout)
            try:
                hdrs = {**self._auth_header(), **(headers or {})}
                if body is not None:
                    hdrs.setdefault("Content-Length", str(len(body)))
                conn.request(method, prefix + path, body=body, headers=hdrs)
                r = conn.getresponse()
                resp = RawResponse(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
            finally:
                conn.close()
            if resp.status != 401 or not self._handle_challenge(resp):
                return resp
        return resp

    # -- helpers used as fixtures (they raise CheckFailed on any surprise) -------------
    def upload_location(self, resp: requests.Response) -> str:
        loc = resp.headers.get("Location")
        if not loc:
            raise CheckFailed(f"upload response without Location ({resp.status_code})")
        return urllib.parse.urljoin(resp.url, loc)

    def start_upload(self, repo: str) -> str:
        r = self.request("POST", f"/v2/{repo}/blobs/uploads/", headers={"Content-Length": "0"})
        if r.status_code != 202:
            raise CheckFailed(f"POST /v2/{repo}/blobs/uploads/ -> {r.status_code} {r.text[:200]!r}")
        return self.upload_location(r)

    def push_blob(self, repo: str, blob: Blob | bytes) -> str:
        data = blob.data if isinstance(blob, Blob) else blob
        digest = Blob(data).digest
        if self.head(f"/v2/{repo}/blobs/{digest}").status_code == 200:
            return digest
        loc = self.start_upload(repo)
        r = self.request(
            "PUT",
            with_query(loc, digest=digest),
            data=data,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(data))},
        )
        if r.status_code != 201:
            raise CheckFailed(f"blob PUT {digest} -> {r.status_code} {r.text[:200]!r}")
        return digest

    def put_manifest(self, repo: str, ref: str, m: Manifest) -> requests.Response:
        return self.request(
            "PUT",
            f"/v2/{repo}/manifests/{ref}",
            data=m.body,
            headers={"Content-Type": m.media_type},
        )

    def push_manifest(self, repo: str, ref: str, m: Manifest) -> requests.Response:
        """Push the manifest's blobs then the manifest itself; 201 or CheckFailed."""
        for b in m.blobs:
            self.push_blob(repo, b)
        r = self.put_manifest(repo, ref, m)
        if r.status_code != 201:
            raise CheckFailed(
                f"PUT /v2/{repo}/manifests/{ref} ({m.media_type}) -> {r.status_code} "
                f"{r.text[:300]!r}"
            )
        return r

    def get_manifest(self, repo: str, ref: str, method: str = "GET") -> requests.Response:
        return self.request(
            method, f"/v2/{repo}/manifests/{ref}", headers={"Accept": MANIFEST_ACCEPT}
        )
