// Users: find, create, reset a password, make or revoke administrator, disable or enable
// (Wharf's PUT /users/{id}/enabled; Harbor itself only deletes), delete. Buttons' names
// begin with their visible text, then say whom they act on.
import { useState } from "preact/hooks";
import { del, post, put } from "../../api/client";
import type { User } from "../../api/types";
import { Badge } from "../../components/Badge";
import { ConfirmDialog, Dialog } from "../../components/ConfirmDialog";
import { EmptyState } from "../../components/EmptyState";
import { ErrorBanner, Notice } from "../../components/ErrorBanner";
import { SearchBox } from "../../components/SearchBox";
import { Table, type Column } from "../../components/Table";
import { dateTime } from "../../format";
import { useList } from "../../list";
import { useSession } from "../../session";
import { AdminFrame } from "./Admin";

type Action = { kind: "create" } | { kind: "password" | "admin" | "enabled" | "delete"; user: User };

export function UsersPage() {
  const session = useSession();
  const users = useList<User>("/users", { defaultSort: "username", filter: (text) => `username=~${text}` });
  const [action, setAction] = useState<Action | null>(null);
  const [notice, setNotice] = useState("");
  const local = (session.system.auth_mode ?? "db_auth") === "db_auth";
  const me = session.user?.user_id;

  const done = (text: string) => {
    setNotice(text);
    users.reload();
  };

  const columns: Column<User>[] = [
    { key: "username", label: "Username", sort: "username", render: (u) => <strong>{u.username}</strong> },
    { key: "name", label: "Name", render: (u) => u.realname || "–" },
    { key: "email", label: "Email", sort: "email", render: (u) => u.email || "–" },
    {
      key: "role",
      label: "Role",
      render: (u) =>
        u.sysadmin_flag ? <Badge tone="info">Administrator</Badge> : u.admin_role_in_auth ? <Badge tone="info">Administrator (group)</Badge> : "User",
    },
    {
      key: "status",
      label: "Status",
      render: (u) => (u.enabled === false ? <Badge tone="warn">Disabled</Badge> : <Badge tone="ok">Enabled</Badge>),
    },
    { key: "created", label: "Created", sort: "creation_time", render: (u) => dateTime(u.creation_time) },
    {
      key: "actions",
      label: "Actions",
      kind: "actions",
      render: (u) =>
        u.user_id === me ? (
          <span class="muted">You</span>
        ) : (
          <>
            <button type="button" class="button-small" aria-label={`Reset password: ${u.username}`} onClick={() => setAction({ kind: "password", user: u })}>
              Reset password
            </button>
            <button type="button" class="button-small" aria-label={`${u.sysadmin_flag ? "Revoke admin" : "Make admin"}: ${u.username}`} onClick={() => setAction({ kind: "admin", user: u })}>
              {u.sysadmin_flag ? "Revoke admin" : "Make admin"}
            </button>
            <button type="button" class="button-small" aria-label={`${u.enabled === false ? "Enable" : "Disable"} ${u.username}`} onClick={() => setAction({ kind: "enabled", user: u })}>
              {u.enabled === false ? "Enable" : "Disable"}
            </button>
            <button type="button" class="button-small button-danger" aria-label={`Delete ${u.username}`} onClick={() => setAction({ kind: "delete", user: u })}>
              Delete
            </button>
          </>
        ),
    },
  ];

  return (
    <AdminFrame
      tab="users"
      title="Users"
      actions={
        local && (
          <button type="button" class="button-primary" onClick={() => setAction({ kind: "create" })}>
            New user
          </button>
        )
      }
    >
      {!local && (
        <p class="muted">
          Users sign in through {session.system.auth_mode === "ldap_auth" ? "LDAP" : "OIDC"}; they appear here after their first sign-in. New local users
          cannot be created in this mode.
        </p>
      )}
      <div class="toolbar">
        <SearchBox label="Search users" value={users.search} onSearch={users.setSearch} />
      </div>
      <Notice text={notice} onDismiss={() => setNotice("")} />
      <ErrorBanner error={users.error} />
      <Table
        caption="Users"
        columns={columns}
        rows={users.data?.items ?? []}
        rowKey={(u) => u.user_id}
        sort={users.sort}
        onSort={users.setSort}
        page={users.page}
        pageSize={users.pageSize}
        total={users.data?.total}
        onPage={users.setPage}
        loading={users.loading}
        empty={
          users.search ? (
            <EmptyState title={`No user matches “${users.search}”.`}>Try a shorter search, or clear it.</EmptyState>
          ) : (
            <EmptyState title="No users yet.">Create one with “New user”.</EmptyState>
          )
        }
      />
      {action?.kind === "create" && <CreateUser onClose={() => setAction(null)} onDone={(name) => done(`User ${name} was created.`)} />}
      {action?.kind === "password" && <ResetPassword user={action.user} onClose={() => setAction(null)} onDone={() => done(`The password of ${action.user.username} was reset.`)} />}
      {action?.kind === "admin" && (
        <ConfirmDialog
          title={action.user.sysadmin_flag ? `Revoke administrator from ${action.user.username}?` : `Make ${action.user.username} an administrator?`}
          confirmLabel={action.user.sysadmin_flag ? "Revoke admin" : "Make admin"}
          onClose={() => setAction(null)}
          onConfirm={async () => {
            const next = !action.user.sysadmin_flag;
            await put(`/users/${action.user.user_id}/sysadmin`, { sysadmin_flag: next });
            done(next ? `${action.user.username} is now an administrator.` : `${action.user.username} is no longer an administrator.`);
          }}
        >
          {action.user.sysadmin_flag ? (
            <p>They keep their project roles but lose access to every other project and to Administration.</p>
          ) : (
            <p>Administrators may do everything: every project, every user, garbage collection and the audit log.</p>
          )}
        </ConfirmDialog>
      )}
      {action?.kind === "enabled" && (
        <ConfirmDialog
          title={action.user.enabled === false ? `Enable ${action.user.username}?` : `Disable ${action.user.username}?`}
          confirmLabel={action.user.enabled === false ? "Enable" : "Disable"}
          danger={action.user.enabled !== false}
          onClose={() => setAction(null)}
          onConfirm={async () => {
            const next = action.user.enabled === false;
            await put(`/users/${action.user.user_id}/enabled`, { enabled: next });
            done(next ? `${action.user.username} may sign in again.` : `${action.user.username} is disabled.`);
          }}
        >
          {action.user.enabled === false ? (
            <p>They may sign in and use their tokens again; their memberships are as they were.</p>
          ) : (
            <p>They can no longer sign in, and their tokens stop working at their next request. Their memberships stay, so enabling them restores everything.</p>
          )}
        </ConfirmDialog>
      )}
      {action?.kind === "delete" && (
        <ConfirmDialog
          title={`Delete ${action.user.username}?`}
          confirmLabel="Delete user"
          danger
          onClose={() => setAction(null)}
          onConfirm={async () => {
            await del(`/users/${action.user.user_id}`);
            done(`User ${action.user.username} was deleted.`);
          }}
        >
          <p>Their memberships go with them and this cannot be undone. To keep them but stop them signing in, disable them instead.</p>
        </ConfirmDialog>
      )}
    </AdminFrame>
  );
}

function CreateUser({ onClose, onDone }: { onClose: () => void; onDone: (name: string) => void }) {
  const [form, setForm] = useState({ username: "", email: "", realname: "", password: "", comment: "" });
  const field = (key: keyof typeof form) => ({
    value: form[key],
    onInput: (event: Event) => setForm({ ...form, [key]: (event.target as HTMLInputElement).value }),
  });
  return (
    <Dialog title="New user" onClose={onClose}>
      {(busy, run) => (
        <form
          class="form"
          onSubmit={(event) => {
            event.preventDefault();
            void run(async () => {
              await post("/users", form);
              onDone(form.username);
            });
          }}
        >
          <label>
            Username
            <input required autoComplete="off" {...field("username")} />
          </label>
          <label>
            Email
            <input type="email" required {...field("email")} />
          </label>
          <label>
            Full name
            <input required {...field("realname")} />
          </label>
          <div class="field">
            <label for="new-user-password">Password</label>
            <input id="new-user-password" type="password" required autoComplete="new-password" aria-describedby="new-user-password-help" {...field("password")} />
            <span id="new-user-password-help" class="hint">
              8 to 128 characters with an upper-case letter, a lower-case letter and a digit.
            </span>
          </div>
          <label>
            Comment <span class="hint">(optional)</span>
            <input {...field("comment")} />
          </label>
          <div class="dialog-actions">
            <button type="button" onClick={onClose} disabled={busy}>
              Cancel
            </button>
            <button type="submit" class="button-primary" disabled={busy}>
              Create user
            </button>
          </div>
        </form>
      )}
    </Dialog>
  );
}

function ResetPassword({ user, onClose, onDone }: { user: User; onClose: () => void; onDone: () => void }) {
  const [password, setPassword] = useState("");
  const [again, setAgain] = useState("");
  const mismatch = again !== "" && again !== password;
  return (
    <Dialog title={`Reset the password of ${user.username}`} onClose={onClose}>
      {(busy, run) => (
        <form
          class="form"
          onSubmit={(event) => {
            event.preventDefault();
            if (mismatch) return;
            void run(async () => {
              await put(`/users/${user.user_id}/password`, { new_password: password });
              onDone();
            });
          }}
        >
          <label>
            New password
            <input type="password" required autoComplete="new-password" value={password} onInput={(e) => setPassword((e.target as HTMLInputElement).value)} />
          </label>
          <div class="field">
            <label for="reset-password-again">The same again</label>
            <input
              id="reset-password-again"
              type="password"
              required
              autoComplete="new-password"
              value={again}
              aria-invalid={mismatch ? "true" : "false"}
              aria-describedby="password-mismatch"
              onInput={(e) => setAgain((e.target as HTMLInputElement).value)}
            />
            <span id="password-mismatch" class="hint" aria-live="polite">
              {mismatch ? "The two passwords differ." : ""}
            </span>
          </div>
          <p class="hint">Tell them the new password; they can change it after signing in.</p>
          <div class="dialog-actions">
            <button type="button" onClick={onClose} disabled={busy}>
              Cancel
            </button>
            <button type="submit" class="button-primary" disabled={busy || mismatch}>
              Reset password
            </button>
          </div>
        </form>
      )}
    </Dialog>
  );
}
