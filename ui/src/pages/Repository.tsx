// /projects/:name/repositories/*rest — a repository's artifacts, or (rest ending in
// "/artifacts/<digest>") one artifact of it.
import { get } from "../api/client";
import type { Artifact, Repository } from "../api/types";
import { CopyButton } from "../components/CopyButton";
import { Copyable } from "../components/CopyButton";
import { EmptyState } from "../components/EmptyState";
import { ErrorBanner } from "../components/ErrorBanner";
import { PageHeader } from "../components/Layout";
import { Table, type Column } from "../components/Table";
import { bytes, dateTime } from "../format";
import { artifactHref, projectHref, repositoryApi, splitRepositoryPath } from "../links";
import { useList } from "../list";
import { useLoad } from "../load";
import { registryHost } from "./project/Summary";
import { ArtifactPage } from "./repository/Artifact";
import {
  AccessoryTree,
  DeleteArtifact,
  TagChip,
  platforms,
  pullCommand,
  shortDigest,
} from "./repository/shared";

/** Tags shown in a row of the list; the artifact's page lists them all. */
const TAGS_SHOWN = 3;

export function RepositoryRoute({ project, rest }: { project: string; rest: string }) {
  const { repo, digest } = splitRepositoryPath(rest);
  if (digest) return <ArtifactPage project={project} repo={repo} digest={digest} />;
  return <RepositoryPage project={project} repo={repo} />;
}

export function repositoryCrumbs(project: string) {
  return [
    { href: "/projects", label: "Projects" },
    { href: projectHref(project), label: project },
    { href: projectHref(project, "repositories"), label: "Repositories" },
  ];
}

export function RepositoryPage({ project, repo }: { project: string; repo: string }) {
  const base = repositoryApi(project, repo);
  const info = useLoad(base, () => get<Repository>(base));
  const artifacts = useList<Artifact>(`${base}/artifacts`, {
    defaultSort: "-push_time",
    pageSize: 10,
    extra: { with_tag: true, with_label: false, with_accessory: true },
  });
  const reload = artifacts.reload;
  const columns: Column<Artifact>[] = [
    {
      key: "artifact",
      label: "Artifact",
      render: (a) => (
        <div>
          <a href={artifactHref(project, repo, a.digest)} title={a.digest}>
            <code>{shortDigest(a.digest)}</code>
          </a>{" "}
          <CopyButton text={a.digest} what={`the digest ${shortDigest(a.digest)}`} />
          <AccessoryTree project={project} repo={repo} accessories={a.accessories ?? []} />
        </div>
      ),
    },
    {
      key: "tags",
      label: "Tags",
      render: (a) => {
        const tags = a.tags ?? [];
        if (tags.length === 0) return <span class="muted">untagged</span>;
        return (
          <span class="tag-list">
            {tags.slice(0, TAGS_SHOWN).map((t) => (
              <TagChip key={t.name} project={project} repo={repo} digest={a.digest} name={t.name} onDeleted={reload} />
            ))}
            {tags.length > TAGS_SHOWN && (
              <a href={`${artifactHref(project, repo, a.digest)}#tags`}>+{tags.length - TAGS_SHOWN} more</a>
            )}
          </span>
        );
      },
    },
    {
      key: "platform",
      label: "OS/Arch",
      render: (a) => {
        const found = platforms(a);
        if (found.length === 0) return <span class="muted">–</span>;
        return (
          <ul class="plain-list">
            {found.map((p, i) => (
              <li key={`${p}-${i}`}>{p}</li>
            ))}
          </ul>
        );
      },
    },
    { key: "size", label: "Size", sort: "size", kind: "num", render: (a) => bytes(a.size) },
    { key: "pushed", label: "Pushed", sort: "push_time", render: (a) => dateTime(a.push_time) },
    { key: "pulled", label: "Pulled", sort: "pull_time", render: (a) => dateTime(a.pull_time) },
    {
      key: "pull",
      label: "Pull command",
      render: (a) => {
        const reference = a.tags && a.tags.length > 0 ? a.tags[0].name : a.digest;
        const command = pullCommand(project, repo, reference);
        return <CopyButton text={command} what={`the pull command of ${reference.includes(":") ? shortDigest(reference) : reference}`} />;
      },
    },
    {
      key: "actions",
      label: "Actions",
      kind: "actions",
      render: (a) => <DeleteArtifact project={project} repo={repo} artifact={a} onDeleted={reload} />,
    },
  ];
  const r = info.data;
  return (
    <section>
      <PageHeader title={`${project}/${repo}`} crumbs={repositoryCrumbs(project)} />
      <ErrorBanner error={info.error} />
      {r?.description && <p>{r.description}</p>}
      <p class="muted">
        {r ? `${r.artifact_count} ${r.artifact_count === 1 ? "artifact" : "artifacts"} · ${r.pull_count} ${r.pull_count === 1 ? "pull" : "pulls"}` : ""}
      </p>
      <ErrorBanner error={artifacts.error} />
      <Table
        caption={`Artifacts of ${project}/${repo}`}
        columns={columns}
        rows={artifacts.data?.items ?? []}
        rowKey={(a) => a.digest}
        sort={artifacts.sort}
        onSort={artifacts.setSort}
        page={artifacts.page}
        pageSize={artifacts.pageSize}
        total={artifacts.data?.total}
        onPage={artifacts.setPage}
        loading={artifacts.loading}
        empty={
          <EmptyState title="This repository has no artifacts.">
            <p>Push an image to it:</p>
            <Copyable text={`docker push ${registryHost()}/${project}/${repo}:TAG`} what="the push command" />
          </EmptyState>
        }
      />
    </section>
  );
}
