import { useState } from "preact/hooks";
import { del, get, post, put } from "../../api/client";
import { ROLES, type Member, type Project, type UserSearchItem } from "../../api/types";
import { Badge } from "../../components/Badge";
import { ConfirmDialog, Dialog } from "../../components/ConfirmDialog";
import { EmptyState } from "../../components/EmptyState";
import { ErrorBanner, Notice } from "../../components/ErrorBanner";
import { SearchBox } from "../../components/SearchBox";
import { Table, type Column } from "../../components/Table";
import { useList } from "../../list";
import { session } from "../../session";
import { canManage, projectApi } from "./access";

const ROLE_ORDER = [1, 4, 2, 3, 5];

function RoleSelect({ value, onChange, label, id }: { value: number; onChange: (role: number) => void; label: string; id?: string }) {
  return (
    <select id={id} aria-label={label} value={String(value)} onChange={(e) => onChange(Number((e.target as HTMLSelectElement).value))}>
      {ROLE_ORDER.map((role) => (
        <option key={role} value={String(role)}>
          {ROLES[role]}
        </option>
      ))}
    </select>
  );
}

function AddMember({ project, onDone, onClose }: { project: Project; onDone: (text: string) => void; onClose: () => void }) {
  const [kind, setKind] = useState<"user" | "group">("user");
  const [name, setName] = useState("");
  const [role, setRole] = useState(2);
  const [suggestions, setSuggestions] = useState<UserSearchItem[]>([]);
  const ldap = session().system.auth_mode === "ldap_auth";

  const suggest = async (text: string) => {
    setName(text);
    if (kind !== "user" || text.trim().length < 1) return;
    try {
      setSuggestions(await get<UserSearchItem[]>("/users/search", { query: { username: text.trim(), page_size: 10 } }));
    } catch {
      setSuggestions([]);
    }
  };

  const add = async () => {
    const who = name.trim();
    if (!who) throw new Error(kind === "user" ? "Enter a username." : "Enter a group.");
    const body =
      kind === "user"
        ? { role_id: role, member_user: { username: who } }
        : { role_id: role, member_group: ldap && who.includes("=") ? { ldap_group_dn: who } : { group_name: who } };
    await post(`${projectApi(project)}/members`, body);
    onDone(`${who} is now ${ROLES[role].toLowerCase()} of ${project.name}.`);
  };

  return (
    <Dialog title={`Add a member to ${project.name}`} onClose={onClose}>
      {(busy, run) => (
        <form
          class="form"
          onSubmit={(e) => {
            e.preventDefault();
            void run(add);
          }}
        >
          <fieldset>
            <legend>Who</legend>
            <label class="check">
              <input type="radio" name="kind" checked={kind === "user"} onChange={() => setKind("user")} /> A user
            </label>
            <label class="check">
              <input type="radio" name="kind" checked={kind === "group"} onChange={() => setKind("group")} /> A group
            </label>
          </fieldset>
          <label>
            {kind === "user" ? "Username" : ldap ? "Group (name or LDAP DN)" : "Group name"}
            <input
              name="member"
              required
              value={name}
              list={kind === "user" ? "member-suggestions" : undefined}
              autocomplete="off"
              onInput={(e) => void suggest((e.target as HTMLInputElement).value)}
            />
          </label>
          <datalist id="member-suggestions">
            {suggestions.map((u) => (
              <option key={u.user_id} value={u.username} />
            ))}
          </datalist>
          <label>
            Role
            <RoleSelect value={role} onChange={setRole} label="Role" />
            <span class="hint">
              Guests pull; developers also push; maintainers also delete and manage tags; project admins also manage
              members and robots.
            </span>
          </label>
          <div class="dialog-actions">
            <button type="button" onClick={onClose} disabled={busy}>
              Cancel
            </button>
            <button type="submit" class="button-primary" disabled={busy}>
              Add member
            </button>
          </div>
        </form>
      )}
    </Dialog>
  );
}

export function ProjectMembers({ project }: { project: Project }) {
  const members = useList<Member>(`${projectApi(project)}/members`, { searchParam: "entityname" });
  const [adding, setAdding] = useState(false);
  const [removing, setRemoving] = useState<Member | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState("");
  const manage = canManage(project);

  const changeRole = async (member: Member, role: number) => {
    setError(null);
    try {
      await put(`${projectApi(project)}/members/${member.id}`, { role_id: role });
      setNotice(`${member.entity_name} is now ${ROLES[role].toLowerCase()}.`);
      members.reload();
    } catch (failure) {
      setError(failure);
      members.reload();
    }
  };

  const columns: Column<Member>[] = [
    {
      key: "name",
      label: "Name",
      render: (m) => (
        <>
          {m.entity_name} {m.entity_type === "g" && <Badge>Group</Badge>}
        </>
      ),
    },
    {
      key: "role",
      label: "Role",
      render: (m) =>
        manage ? (
          <RoleSelect value={m.role_id} label={`Role of ${m.entity_name}`} onChange={(role) => void changeRole(m, role)} />
        ) : (
          ROLES[m.role_id] ?? m.role_name
        ),
    },
  ];
  if (manage) {
    columns.push({
      key: "actions",
      label: "Actions",
      kind: "actions",
      render: (m) => (
        <button type="button" class="button-small" onClick={() => setRemoving(m)} aria-label={`Remove ${m.entity_name}`}>
          Remove
        </button>
      ),
    });
  }

  return (
    <div>
      <div class="toolbar">
        <SearchBox label="Search members" value={members.search} onSearch={members.setSearch} />
        <span class="spacer" />
        {manage && (
          <button type="button" class="button-primary" onClick={() => setAdding(true)}>
            Add member
          </button>
        )}
      </div>
      <Notice text={notice} onDismiss={() => setNotice("")} />
      <ErrorBanner error={error ?? members.error} onDismiss={error ? () => setError(null) : undefined} />
      <Table
        caption={`Members of ${project.name}`}
        columns={columns}
        rows={members.data?.items ?? []}
        rowKey={(m) => m.id}
        page={members.page}
        pageSize={members.pageSize}
        total={members.data?.total}
        onPage={members.setPage}
        loading={members.loading}
        empty={
          members.search ? (
            <EmptyState title={`No member matches “${members.search}”.`}>Try another name, or clear the search.</EmptyState>
          ) : (
            <EmptyState
              title="This project has no members yet."
              action={
                manage && (
                  <button type="button" class="button-primary" onClick={() => setAdding(true)}>
                    Add the first member
                  </button>
                )
              }
            >
              Members get a role: guests pull, developers push, maintainers also delete.
            </EmptyState>
          )
        }
      />
      {adding && (
        <AddMember
          project={project}
          onClose={() => setAdding(false)}
          onDone={(text) => {
            setNotice(text);
            members.reload();
          }}
        />
      )}
      {removing && (
        <ConfirmDialog
          title={`Remove ${removing.entity_name}?`}
          confirmLabel="Remove"
          danger
          onClose={() => setRemoving(null)}
          onConfirm={async () => {
            await del(`${projectApi(project)}/members/${removing.id}`);
            setNotice(`${removing.entity_name} is no longer a member of ${project.name}.`);
            members.reload();
          }}
        >
          <p>
            {removing.entity_name} loses the {ROLES[removing.role_id]?.toLowerCase() ?? removing.role_name} role in{" "}
            {project.name} at once (tokens already issued stop working on their next request).
          </p>
        </ConfirmDialog>
      )}
    </div>
  );
}
