import type { Project, Repository } from "../../api/types";
import { EmptyState } from "../../components/EmptyState";
import { Copyable } from "../../components/CopyButton";
import { ErrorBanner } from "../../components/ErrorBanner";
import { SearchBox } from "../../components/SearchBox";
import { Table, type Column } from "../../components/Table";
import { dateTime } from "../../format";
import { repositoryHref } from "../../links";
import { useList } from "../../list";
import { registryHost } from "./Summary";

export function ProjectRepositories({ project }: { project: Project }) {
  const repos = useList<Repository>(`/projects/${encodeURIComponent(project.name)}/repositories`, {
    defaultSort: "name",
    filter: (text) => `name=~${text}`,
  });
  const columns: Column<Repository>[] = [
    {
      key: "name",
      label: "Name",
      sort: "name",
      render: (r) => <a href={repositoryHref(project.name, r.name)}>{r.name}</a>,
    },
    { key: "artifacts", label: "Artifacts", kind: "num", render: (r) => r.artifact_count },
    { key: "pulls", label: "Pulls", kind: "num", render: (r) => r.pull_count },
    { key: "updated", label: "Last modified", sort: "update_time", render: (r) => dateTime(r.update_time) },
  ];
  return (
    <div>
      <div class="toolbar">
        <SearchBox label="Search repositories" value={repos.search} onSearch={repos.setSearch} />
      </div>
      <ErrorBanner error={repos.error} />
      <Table
        caption={`Repositories of ${project.name}`}
        columns={columns}
        rows={repos.data?.items ?? []}
        rowKey={(r) => r.id}
        sort={repos.sort}
        onSort={repos.setSort}
        page={repos.page}
        pageSize={repos.pageSize}
        total={repos.data?.total}
        onPage={repos.setPage}
        loading={repos.loading}
        empty={
          repos.search ? (
            <EmptyState title={`No repository matches “${repos.search}”.`}>Try another search, or clear it.</EmptyState>
          ) : (
            <EmptyState title="This project has no repositories yet.">
              <p>Push an image to create one:</p>
              <Copyable text={`docker push ${registryHost()}/${project.name}/REPOSITORY:TAG`} what="the push command" />
            </EmptyState>
          )
        }
      />
    </div>
  );
}
