"""Content discovery: tags list (sorted, paginated), referrers API, catalog."""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

import requests

from .context import Context
from .expect import (
    content_type,
    describe,
    expect,
    expect_error,
    expect_header,
    expect_status,
    json_body,
)
from .framework import CheckFailed, Skip, check
from .oci import OCI_INDEX, Manifest, artifact, random_image

WF = "discovery"
# Lowercase only: the spec's "lexical (case-insensitive alphanumeric) order" and plain
# byte order then agree, so either implementation choice passes.
TAGS = ["v10", "alpha", "zed", "v2", "beta-1", "1.0", "v1", "a_b", "latest"]
_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


def _tags_repo(ctx: Context) -> tuple[str, list[str]]:
    repo = ctx.sub("tags")
    if "tags" not in ctx.state:
        m = random_image()
        for b in m.blobs:
            ctx.client.push_blob(repo, b)
        for t in TAGS:
            r = ctx.client.put_manifest(repo, t, m)
            if r.status_code != 201:
                raise CheckFailed(f"fixture: PUT tag {t}: {describe(r)}")
        ctx.state["tags"] = sorted(TAGS)
    tags: list[str] = ctx.state["tags"]
    return repo, tags


def next_link(resp: requests.Response, current: str) -> str | None:
    link = resp.headers.get("Link")
    if not link:
        return None
    m = _LINK.search(link)
    if not m:
        raise CheckFailed(f'Link header {link!r} has no rel="next" URL')
    return urllib.parse.urljoin(current, str(m.group(1)))


def _paginate(ctx: Context, url: str, key: str, n: int, limit: int = 200) -> list[list[str]]:
    pages: list[list[str]] = []
    while url:
        r = ctx.client.get(url)
        expect_status(r, 200)
        items = json_body(r).get(key) or []
        expect(len(items) <= n, f"page has {len(items)} entries, more than n={n}: {url}")
        pages.append(items)
        nxt = next_link(r, ctx.client.url(url))
        if nxt is None:
            break
        expect(bool(items), f"empty page still sends a Link header: {url}")
        expect(len(pages) < limit, "pagination does not terminate")
        url = nxt
    return pages


@check(WF, "tags list is complete and lexically sorted")
def tags_list(ctx: Context) -> None:
    repo, tags = _tags_repo(ctx)
    r = ctx.client.get(f"/v2/{repo}/tags/list")
    expect_status(r, 200)
    doc = json_body(r)
    expect(doc.get("name") == repo, f"name is {doc.get('name')!r}, expected {repo!r}")
    expect(doc.get("tags") == tags, f"tags {doc.get('tags')} != sorted {tags}")


@check(WF, "tags list ?n= pagination follows Link until exhausted")
def tags_paginated(ctx: Context) -> None:
    repo, tags = _tags_repo(ctx)
    r = ctx.client.get(f"/v2/{repo}/tags/list?n=2")
    expect_status(r, 200)
    first = json_body(r).get("tags") or []
    expect(first == tags[:2], f"?n=2 returned {first}, expected {tags[:2]}")
    expect("Link" in r.headers, f"?n=2 with more tags left sends no Link header: {describe(r)}")
    pages = _paginate(ctx, f"/v2/{repo}/tags/list?n=2", "tags", 2)
    flat = [t for p in pages for t in p]
    expect(flat == tags, f"paginated tags {flat} != {tags}")


@check(WF, "tags list ?n=0 -> empty list and no Link")
def tags_n_zero(ctx: Context) -> None:
    repo, _ = _tags_repo(ctx)
    r = ctx.client.get(f"/v2/{repo}/tags/list?n=0")
    expect_status(r, 200)
    got = json_body(r).get("tags")
    expect(not got, f"?n=0 returned {got}")
    expect("Link" not in r.headers, "?n=0 must not send a Link header")


@check(WF, "tags list ?last= returns only tags after it")
def tags_last(ctx: Context) -> None:
    repo, tags = _tags_repo(ctx)
    r = ctx.client.get(f"/v2/{repo}/tags/list?n=3&last={tags[2]}")
    expect_status(r, 200)
    got = json_body(r).get("tags") or []
    expect(got == tags[3:6], f"?n=3&last={tags[2]} returned {got}, expected {tags[3:6]}")
    r = ctx.client.get(f"/v2/{repo}/tags/list?n=100&last={tags[-1]}")
    expect_status(r, 200)
    expect(not json_body(r).get("tags"), "last=<final tag> must give no tags")
    expect("Link" not in r.headers, "Link header on the final page")


@check(WF, "tags list of unknown repository -> 404 NAME_UNKNOWN")
def tags_unknown_repo(ctx: Context) -> None:
    r = ctx.client.get(f"/v2/{ctx.sub('never-pushed')}/tags/list")
    expect_error(r, 404, "NAME_UNKNOWN")


def _referrers_fixture(ctx: Context) -> tuple[str, Manifest, list[Manifest]]:
    repo = ctx.sub("referrers")
    if "referrers" not in ctx.state:
        subject = random_image()
        ctx.client.push_manifest(repo, "subject", subject)
        refs = [
            artifact(
                "application/vnd.example.sbom",
                subject=subject.descriptor,
                annotations={"org.example.kind": "sbom"},
            ),
            artifact(
                "application/vnd.example.sig",
                subject=subject.descriptor,
                annotations={"org.example.kind": "sig"},
            ),
            artifact("application/vnd.example.sig", subject=subject.descriptor),
        ]
        for m in refs:
            ctx.client.push_manifest(repo, m.digest, m)
        ctx.state["referrers"] = (subject, refs)
    subject, refs = ctx.state["referrers"]
    return repo, subject, refs


def _referrers(ctx: Context, repo: str, digest: str, query: str = "") -> tuple[Any, list[Any]]:
    r = ctx.client.get(f"/v2/{repo}/referrers/{digest}{query}")
    if r.status_code == 404 and "MANIFEST_UNKNOWN" not in r.text:
        raise CheckFailed(f"no referrers API: {describe(r)}")
    expect_status(r, 200)
    expect(content_type(r) == OCI_INDEX, f"Content-Type {content_type(r)!r} != {OCI_INDEX}")
    doc = json_body(r)
    expect(doc.get("schemaVersion") == 2, "referrers index schemaVersion != 2")
    expect(doc.get("mediaType") == OCI_INDEX, "referrers index mediaType != image index")
    manifests = doc.get("manifests")
    expect(isinstance(manifests, list), "referrers index has no manifests list")
    return r, manifests


def _expect_descriptors(got: list[Any], want: list[Manifest]) -> None:
    by_digest = {d.get("digest"): d for d in got}
    expect(
        len(got) == len(want) and set(by_digest) == {m.digest for m in want},
        f"referrers {sorted(by_digest)} != {sorted(m.digest for m in want)}",
    )
    for m in want:
        d, doc = by_digest[m.digest], m.json()
        expect(d.get("mediaType") == m.media_type, f"{m.digest}: mediaType {d.get('mediaType')}")
        expect(d.get("size") == len(m.body), f"{m.digest}: size {d.get('size')}")
        expect(
            d.get("artifactType") == doc.get("artifactType"),
            f"{m.digest}: artifactType {d.get('artifactType')!r}",
        )
        expect(
            (d.get("annotations") or None) == (doc.get("annotations") or None),
            f"{m.digest}: annotations {d.get('annotations')!r} != {doc.get('annotations')!r}",
        )


@check(WF, "referrers lists manifests whose subject is the digest")
def referrers_list(ctx: Context) -> None:
    repo, subject, refs = _referrers_fixture(ctx)
    _, manifests = _referrers(ctx, repo, subject.digest)
    _expect_descriptors(manifests, refs)


@check(WF, "referrers of a manifest with none -> 200 empty index")
def referrers_empty(ctx: Context) -> None:
    repo, _, refs = _referrers_fixture(ctx)
    _, manifests = _referrers(ctx, repo, refs[0].digest)
    expect(manifests == [], f"expected no referrers, got {manifests}")
    lone = random_image()
    _, manifests = _referrers(ctx, repo, lone.digest)  # subject never pushed
    expect(manifests == [], f"expected no referrers for an unknown digest, got {manifests}")


@check(WF, "referrers ?artifactType= filter + OCI-Filters-Applied")
def referrers_filter(ctx: Context) -> None:
    repo, subject, refs = _referrers_fixture(ctx)
    r, manifests = _referrers(
        ctx, repo, subject.digest, "?artifactType=application/vnd.example.sig"
    )
    if "OCI-Filters-Applied" not in r.headers:
        raise CheckFailed("no OCI-Filters-Applied header: registry does not filter (spec: SHOULD)")
    expect_header(r, "OCI-Filters-Applied", "artifactType")
    _expect_descriptors(manifests, refs[1:])


@check(WF, "catalog ?n= pagination with Link includes this run's repositories")
def catalog(ctx: Context) -> None:
    ctx.image()
    ours = [ctx.repo, *([ctx.sub("tags")] if "tags" in ctx.state else [])]
    r = ctx.client.get("/v2/_catalog?n=2")
    if r.status_code in (404, 405) or (r.status_code == 401 and "UNSUPPORTED" in r.text):
        raise Skip(f"_catalog not implemented ({r.status_code}); it is optional in the spec")
    expect_status(r, 200)
    expect(len(json_body(r).get("repositories") or []) <= 2, "?n=2 returned more than 2")
    # Start just before our repositories so a busy registry is not walked in full.
    last = urllib.parse.quote(ctx.repo[:-1], safe="")
    pages = _paginate(ctx, f"/v2/_catalog?n=2&last={last}", "repositories", 2)
    flat = [x for p in pages for x in p]
    # The spec leaves _catalog order to the registry (it is a historical, optional API),
    # so only duplicates and completeness are checked here.
    expect(len(flat) == len(set(flat)), f"catalog pages repeat entries: {flat}")
    missing = [x for x in ours if x not in flat]
    expect(not missing, f"catalog lacks {missing}")
