// One artifact: what it is, how to pull it, its tags, platforms (an index), layers, build
// history, labels, accessories (referrers), and the manifest and config as JSON.
import type { ComponentChildren } from "preact";
import { ApiError, get } from "../../api/client";
import type { Accessory, Artifact, HistoryEntry, ManifestDoc, Tag } from "../../api/types";
import { Badge } from "../../components/Badge";
import { Copyable } from "../../components/CopyButton";
import { EmptyState } from "../../components/EmptyState";
import { ErrorBanner } from "../../components/ErrorBanner";
import { PageHeader } from "../../components/Layout";
import { SearchBox } from "../../components/SearchBox";
import { Table, type Column } from "../../components/Table";
import { bytes, dateTime } from "../../format";
import { artifactApi, artifactHref, projectHref, repositoryHref } from "../../links";
import { useList } from "../../list";
import { useLoad } from "../../load";
import { navigate } from "../../router";
import { DeleteArtifact, TagChip, accessoryName, platformText, pullCommand, shortDigest } from "./shared";

const INDEX_TYPES = new Set(["application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"]);

/** The answer, or null when the API says there is none (404): an optional document. */
async function optional<T>(load: () => Promise<T>): Promise<T | null> {
  try {
    return await load();
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 400)) return null;
    throw error;
  }
}

function Json({ value, label }: { value: unknown; label: string }) {
  return (
    <pre class="json" role="region" tabIndex={0} aria-label={label}>
      {JSON.stringify(value, null, 2)}
    </pre>
  );
}

function Section({ id, title, children }: { id: string; title: string; children: ComponentChildren }) {
  return (
    <section aria-labelledby={`${id}-title`} id={id}>
      <h2 id={`${id}-title`}>{title}</h2>
      {children}
    </section>
  );
}

export function ArtifactPage({ project, repo, digest }: { project: string; repo: string; digest: string }) {
  const api = artifactApi(project, repo, digest);
  const artifact = useLoad(api, () =>
    get<Artifact>(api, { query: { with_tag: true, with_label: true, with_accessory: true } }),
  );
  const manifest = useLoad(`${api}/manifest`, () => get<ManifestDoc>(`${api}/manifest`));
  const a = artifact.data;
  const m = manifest.data;
  const isIndex = a ? INDEX_TYPES.has(a.manifest_media_type) : false;
  const config = useLoad(a && !isIndex ? `${api}/config` : null, () => optional(() => get<unknown>(`${api}/config`)));
  const hasHistory = a ? "build_history" in a.addition_links : false;
  const history = useLoad(a && hasHistory ? `${api}/history` : null, () =>
    optional(() => get<HistoryEntry[]>(`${api}/additions/build_history`)),
  );
  const repoHref = repositoryHref(project, repo);
  const crumbs = [
    { href: "/projects", label: "Projects" },
    { href: projectHref(project), label: project },
    { href: repoHref, label: `${project}/${repo}` },
  ];
  return (
    <section>
      <PageHeader title={`${project}/${repo}@${shortDigest(digest)}`} crumbs={crumbs}>
        {a && <DeleteArtifact project={project} repo={repo} artifact={a} onDeleted={() => navigate(repoHref)} label="Delete artifact" />}
      </PageHeader>
      <ErrorBanner error={artifact.error} />
      {artifact.loading && !a && <p class="loading">Loading…</p>}
      {a && (
        <>
          <Overview artifact={a} />
          <Section id="pull" title="Pull">
            <p>
              <Copyable text={pullCommand(project, repo, a.digest)} what="the pull command by digest" />
            </p>
            {(a.tags ?? []).slice(0, 3).map((t) => (
              <p key={t.name}>
                <Copyable text={pullCommand(project, repo, t.name)} what={`the pull command of tag ${t.name}`} />
              </p>
            ))}
          </Section>
          <Tags project={project} repo={repo} digest={a.digest} onChange={artifact.reload} />
          {isIndex && <Platforms project={project} repo={repo} artifact={a} manifest={m} />}
          {!isIndex && m && <Layers manifest={m} />}
          {hasHistory && (
            <Section id="history" title="Build history">
              <ErrorBanner error={history.error} />
              <History entries={history.data ?? []} loading={history.loading} />
            </Section>
          )}
          <Section id="labels" title="Labels">
            {(a.labels ?? []).length === 0 ? (
              <p class="muted">No labels. A project admin attaches labels through the API (addLabel).</p>
            ) : (
              <ul class="plain-list inline">
                {(a.labels ?? []).map((l) => (
                  <li key={l.id}>
                    <Badge tone="info">{l.name}</Badge>
                  </li>
                ))}
              </ul>
            )}
          </Section>
          <Accessories project={project} repo={repo} accessories={a.accessories ?? []} />
          {Object.keys(a.annotations ?? {}).length > 0 && (
            <Section id="annotations" title="Annotations">
              <Json value={a.annotations} label="Annotations" />
            </Section>
          )}
        </>
      )}
      <Section id="manifest" title="Manifest">
        <ErrorBanner error={manifest.error} />
        {m ? <Json value={m} label="Manifest JSON" /> : manifest.loading && <p class="muted">Loading…</p>}
      </Section>
      {a && !isIndex && (
        <Section id="config" title="Config">
          <ErrorBanner error={config.error} />
          {config.data ? (
            <Json value={config.data} label="Config JSON" />
          ) : (
            !config.loading && <p class="muted">This artifact's config is not JSON (or is empty).</p>
          )}
        </Section>
      )}
    </section>
  );
}

function Overview({ artifact: a }: { artifact: Artifact }) {
  const attrs = a.extra_attrs ?? {};
  const own = platformText(attrs);
  return (
    <>
      <p>
        <Copyable text={a.digest} what="the digest" />
      </p>
      <dl class="facts">
        <div>
          <dt>Type</dt>
          <dd>{a.type}</dd>
        </div>
        <div>
          <dt>Size</dt>
          <dd>{bytes(a.size)}</dd>
        </div>
        {own && (
          <div>
            <dt>OS/Arch</dt>
            <dd>{own}</dd>
          </div>
        )}
        <div>
          <dt>Pushed</dt>
          <dd>{dateTime(a.push_time)}</dd>
        </div>
        <div>
          <dt>Pulled</dt>
          <dd>{dateTime(a.pull_time)}</dd>
        </div>
        {attrs.created && (
          <div>
            <dt>Created</dt>
            <dd>{dateTime(attrs.created)}</dd>
          </div>
        )}
        {attrs.author && (
          <div>
            <dt>Author</dt>
            <dd>{attrs.author}</dd>
          </div>
        )}
      </dl>
      <p class="muted">
        Media type <code>{a.manifest_media_type}</code>
        {a.artifact_type && (
          <>
            {" "}
            · artifact type <code>{a.artifact_type}</code>
          </>
        )}
      </p>
    </>
  );
}

function Tags({ project, repo, digest, onChange }: { project: string; repo: string; digest: string; onChange: () => void }) {
  const tags = useList<Tag>(`${artifactApi(project, repo, digest)}/tags`, {
    prefix: "tag_",
    pageSize: 10,
    defaultSort: "-push_time",
    filter: (text) => `name=~${text}`,
  });
  const changed = () => {
    tags.reload();
    onChange();
  };
  const columns: Column<Tag>[] = [
    {
      key: "name",
      label: "Tag",
      sort: "name",
      render: (t) => <TagChip project={project} repo={repo} digest={digest} name={t.name} onDeleted={changed} />,
    },
    { key: "pushed", label: "Pushed", sort: "push_time", render: (t) => dateTime(t.push_time) },
    { key: "pulled", label: "Pulled", sort: "pull_time", render: (t) => dateTime(t.pull_time) },
    {
      key: "pull",
      label: "Pull command",
      render: (t) => <Copyable text={pullCommand(project, repo, t.name)} what={`the pull command of tag ${t.name}`} />,
    },
  ];
  return (
    <Section id="tags" title="Tags">
      <div class="toolbar">
        <SearchBox label="Search tags" value={tags.search} onSearch={tags.setSearch} />
      </div>
      <ErrorBanner error={tags.error} />
      <Table
        caption="Tags of this artifact"
        columns={columns}
        rows={tags.data?.items ?? []}
        rowKey={(t) => t.name}
        sort={tags.sort}
        onSort={tags.setSort}
        page={tags.page}
        pageSize={tags.pageSize}
        total={tags.data?.total}
        onPage={tags.setPage}
        loading={tags.loading}
        empty={
          <EmptyState title={tags.search ? `No tag matches “${tags.search}”.` : "This artifact has no tags."}>
            {tags.search ? "Try another search, or clear it." : "Pull it by its digest, or tag it with docker tag and push."}
          </EmptyState>
        }
      />
    </Section>
  );
}

function Platforms({ project, repo, artifact, manifest }: { project: string; repo: string; artifact: Artifact; manifest: ManifestDoc | null }) {
  const sizes = new Map((manifest?.manifests ?? []).map((d) => [d.digest, d.size]));
  const rows = artifact.references ?? [];
  return (
    <Section id="platforms" title="Platforms">
      <Table
        caption="The manifests of this index"
        columns={[
          {
            key: "platform",
            label: "OS/Arch",
            render: (r) => platformText(r.platform) || <span class="muted">unknown</span>,
          },
          {
            key: "digest",
            label: "Manifest",
            render: (r) => (
              <a href={artifactHref(project, repo, r.child_digest)} title={r.child_digest}>
                <code>{shortDigest(r.child_digest)}</code>
              </a>
            ),
          },
          { key: "size", label: "Manifest size", kind: "num", render: (r) => bytes(sizes.get(r.child_digest)) },
        ]}
        rows={rows}
        rowKey={(r) => r.child_digest}
        empty={<EmptyState title="This index lists no manifests." />}
      />
    </Section>
  );
}

function Layers({ manifest }: { manifest: ManifestDoc }) {
  const layers = manifest.layers ?? [];
  const total = layers.reduce((sum, l) => sum + (l.size ?? 0), 0);
  return (
    <Section id="layers" title="Layers">
      <p class="muted">
        {layers.length} {layers.length === 1 ? "layer" : "layers"}, {bytes(total)} compressed
        {manifest.config && (
          <>
            {" "}
            · config <code>{shortDigest(manifest.config.digest)}</code> ({bytes(manifest.config.size)})
          </>
        )}
      </p>
      <Table
        caption="Layers of this image"
        columns={[
          { key: "n", label: "#", kind: "num", render: (l) => layers.indexOf(l) + 1 },
          { key: "digest", label: "Digest", render: (l) => <code title={l.digest}>{shortDigest(l.digest)}</code> },
          { key: "type", label: "Media type", render: (l) => <code>{l.mediaType ?? ""}</code> },
          { key: "size", label: "Size", kind: "num", render: (l) => bytes(l.size) },
        ]}
        rows={layers}
        rowKey={(l) => `${layers.indexOf(l)}-${l.digest}`}
        empty={<EmptyState title="This artifact has no layers." />}
      />
    </Section>
  );
}

function History({ entries, loading }: { entries: HistoryEntry[]; loading: boolean }) {
  return (
    <Table
      caption="Build history from the image config"
      columns={[
        { key: "created", label: "Created", render: (h) => dateTime(h.created) },
        {
          key: "by",
          label: "Created by",
          render: (h) => (
            <>
              <code class="command">{h.created_by ?? ""}</code>
              {h.empty_layer && (
                <>
                  {" "}
                  <Badge>no layer</Badge>
                </>
              )}
            </>
          ),
        },
        { key: "comment", label: "Comment", render: (h) => h.comment ?? "" },
      ]}
      rows={entries}
      rowKey={(h) => entries.indexOf(h)}
      loading={loading}
      empty={<EmptyState title="The config records no build history." />}
    />
  );
}

function Accessories({ project, repo, accessories }: { project: string; repo: string; accessories: Accessory[] }) {
  return (
    <Section id="accessories" title="Accessories">
      <Table
        caption="Signatures, SBOMs and other artifacts referring to this one"
        columns={[
          { key: "type", label: "Kind", render: (x) => <Badge tone={x.type.startsWith("signature") ? "ok" : "info"}>{accessoryName(x.type)}</Badge> },
          {
            key: "digest",
            label: "Digest",
            render: (x) => (
              <a href={artifactHref(project, repo, x.digest)} title={x.digest}>
                <code>{shortDigest(x.digest)}</code>
              </a>
            ),
          },
          { key: "size", label: "Size", kind: "num", render: (x) => bytes(x.size) },
          { key: "created", label: "Pushed", render: (x) => dateTime(x.creation_time) },
        ]}
        rows={accessories}
        rowKey={(x) => x.digest}
        empty={<EmptyState title="No signatures, SBOMs or other referrers." >Sign it with cosign or Notation, or attach an SBOM with oras attach.</EmptyState>}
      />
    </Section>
  );
}
