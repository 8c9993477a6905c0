import { useState } from "preact/hooks";
import { del, patch, post, put } from "../../api/client";
import type { Project, Robot, RobotAccess, RobotCreated } from "../../api/types";
import { Badge } from "../../components/Badge";
import { ConfirmDialog, Dialog } from "../../components/ConfirmDialog";
import { Copyable } from "../../components/CopyButton";
import { EmptyState } from "../../components/EmptyState";
import { ErrorBanner, Notice } from "../../components/ErrorBanner";
import { Table, type Column } from "../../components/Table";
import { dateTime } from "../../format";
import { useList } from "../../list";
import { canManage } from "./access";
import { registryHost } from "./Summary";

/** The permissions a project robot may be given (Harbor's resources and actions). */
export const ROBOT_CHOICES: { resource: string; label: string; actions: string[] }[] = [
  { resource: "repository", label: "Repositories", actions: ["pull", "push", "list", "delete"] },
  { resource: "artifact", label: "Artifacts", actions: ["read", "list", "delete"] },
  { resource: "tag", label: "Tags", actions: ["list", "create", "delete"] },
];

/** "repository: pull, push · tag: list" */
export function accessSummary(robot: Robot): string {
  const byResource = new Map<string, string[]>();
  for (const permission of robot.permissions) {
    for (const access of permission.access ?? []) {
      byResource.set(access.resource, [...(byResource.get(access.resource) ?? []), access.action]);
    }
  }
  return [...byResource.entries()].map(([resource, actions]) => `${resource}: ${actions.join(", ")}`).join(" · ");
}

function expiry(robot: Robot) {
  if (robot.expires_at === -1 || robot.duration === -1) return "Never";
  const expired = robot.expires_at * 1000 < Date.now();
  return (
    <>
      {dateTime(robot.expires_at)} {expired && <Badge tone="warn">Expired</Badge>}
    </>
  );
}

/** The secret, once: with its copy button and the login command. */
function SecretDialog({ name, secret, onClose }: { name: string; secret: string; onClose: () => void }) {
  return (
    <Dialog title={`Secret of ${name}`} onClose={onClose} keepOpen>
      {() => (
        <>
          <p>
            <strong>Copy the secret now: it is shown only this once.</strong> If it is lost, refresh it to get a new
            one.
          </p>
          <p class="secret">
            <Copyable text={secret} what="the secret" />
          </p>
          <p>Sign in with it:</p>
          <p>
            <Copyable text={`docker login ${registryHost()} -u '${name}'`} what="the login command" />
          </p>
          <div class="dialog-actions">
            <button type="button" class="button-primary" onClick={onClose}>
              I copied it
            </button>
          </div>
        </>
      )}
    </Dialog>
  );
}

function CreateRobot({
  project,
  onCreated,
  onClose,
}: {
  project: Project;
  onCreated: (made: RobotCreated) => void;
  onClose: () => void;
}) {
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [never, setNever] = useState(true);
  const [days, setDays] = useState(30);
  const [chosen, setChosen] = useState<Set<string>>(new Set(["repository:pull"]));

  const toggle = (key: string) => {
    const next = new Set(chosen);
    if (next.has(key)) next.delete(key);
    else next.add(key);
    setChosen(next);
  };

  const create = async () => {
    if (chosen.size === 0) throw new Error("Choose at least one permission.");
    const access: RobotAccess[] = [...chosen].map((key) => {
      const [resource, action] = key.split(":");
      return { resource, action, effect: "allow" };
    });
    const made = await post<RobotCreated>("/robots", {
      name: name.trim(),
      description,
      level: "project",
      duration: never ? -1 : days,
      disable: false,
      permissions: [{ kind: "project", namespace: project.name, access }],
    });
    onCreated(made);
  };

  return (
    <Dialog title={`New robot account in ${project.name}`} onClose={onClose}>
      {(busy, run) => (
        <form
          class="form"
          onSubmit={(e) => {
            e.preventDefault();
            void run(create);
          }}
        >
          <label>
            Name
            <input
              name="name"
              required
              pattern="[a-z0-9]+([._\-][a-z0-9]+)*"
              value={name}
              onInput={(e) => setName((e.target as HTMLInputElement).value)}
            />
            <span class="hint">
              Lower-case letters, digits, and . _ - between them. It signs in as robot${project.name}+{name || "NAME"}.
            </span>
          </label>
          <label>
            Description
            <input name="description" value={description} onInput={(e) => setDescription((e.target as HTMLInputElement).value)} />
          </label>
          <fieldset>
            <legend>Expires</legend>
            <label class="check">
              <input type="checkbox" checked={never} onChange={() => setNever(!never)} /> Never
            </label>
            {!never && (
              <label>
                After how many days
                <input
                  type="number"
                  min={1}
                  max={36500}
                  required
                  value={days}
                  onInput={(e) => setDays(Number((e.target as HTMLInputElement).value))}
                />
              </label>
            )}
          </fieldset>
          {ROBOT_CHOICES.map((choice) => (
            <fieldset key={choice.resource}>
              <legend>{choice.label}</legend>
              {choice.actions.map((action) => {
                const key = `${choice.resource}:${action}`;
                return (
                  <label class="check" key={key}>
                    <input type="checkbox" checked={chosen.has(key)} onChange={() => toggle(key)} /> {action}
                  </label>
                );
              })}
            </fieldset>
          ))}
          <div class="dialog-actions">
            <button type="button" onClick={onClose} disabled={busy}>
              Cancel
            </button>
            <button type="submit" class="button-primary" disabled={busy}>
              Create robot
            </button>
          </div>
        </form>
      )}
    </Dialog>
  );
}

type Pending = { kind: "refresh" | "delete"; robot: Robot };

export function ProjectRobots({ project }: { project: Project }) {
  const robots = useList<Robot>("/robots", { extra: { q: `Level=project,ProjectID=${project.project_id}` } });
  const [creating, setCreating] = useState(false);
  const [secret, setSecret] = useState<{ name: string; secret: string } | null>(null);
  const [pending, setPending] = useState<Pending | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState("");
  const manage = canManage(project);

  const setDisabled = async (robot: Robot, disable: boolean) => {
    setError(null);
    try {
      await put(`/robots/${robot.id}`, {
        name: robot.name,
        description: robot.description,
        level: robot.level,
        duration: robot.duration,
        disable,
        permissions: robot.permissions,
      });
      setNotice(`${robot.name} is ${disable ? "disabled" : "enabled"}.`);
      robots.reload();
    } catch (failure) {
      setError(failure);
    }
  };

  const columns: Column<Robot>[] = [
    { key: "name", label: "Name", render: (r) => <code>{r.name}</code> },
    {
      key: "state",
      label: "State",
      render: (r) => (r.disable ? <Badge tone="warn">Disabled</Badge> : <Badge tone="ok">Enabled</Badge>),
    },
    { key: "permissions", label: "Permissions", render: (r) => accessSummary(r) },
    { key: "expires", label: "Expires", render: expiry },
    { key: "description", label: "Description", render: (r) => r.description || "–" },
  ];
  if (manage) {
    columns.push({
      key: "actions",
      label: "Actions",
      kind: "actions",
      render: (r) => (
        <>
          <button type="button" class="button-small" onClick={() => setPending({ kind: "refresh", robot: r })} aria-label={`Refresh secret of ${r.name}`}>
            Refresh secret
          </button>
          <button type="button" class="button-small" onClick={() => void setDisabled(r, !r.disable)} aria-label={`${r.disable ? "Enable" : "Disable"} ${r.name}`}>
            {r.disable ? "Enable" : "Disable"}
          </button>
          <button type="button" class="button-small" onClick={() => setPending({ kind: "delete", robot: r })} aria-label={`Delete ${r.name}`}>
            Delete
          </button>
        </>
      ),
    });
  }

  return (
    <div>
      <div class="toolbar">
        <p class="muted">Robot accounts push and pull from scripts and CI with a secret of their own.</p>
        <span class="spacer" />
        {manage && (
          <button type="button" class="button-primary" onClick={() => setCreating(true)}>
            New robot account
          </button>
        )}
      </div>
      <Notice text={notice} onDismiss={() => setNotice("")} />
      <ErrorBanner error={error ?? robots.error} onDismiss={error ? () => setError(null) : undefined} />
      <Table
        caption={`Robot accounts of ${project.name}`}
        columns={columns}
        rows={robots.data?.items ?? []}
        rowKey={(r) => r.id}
        page={robots.page}
        pageSize={robots.pageSize}
        total={robots.data?.total}
        onPage={robots.setPage}
        loading={robots.loading}
        empty={
          <EmptyState
            title="This project has no robot accounts."
            action={
              manage && (
                <button type="button" class="button-primary" onClick={() => setCreating(true)}>
                  Create a robot account
                </button>
              )
            }
          >
            Create one for a CI pipeline: it gets only the permissions you choose, and can expire.
          </EmptyState>
        }
      />
      {creating && (
        <CreateRobot
          project={project}
          onClose={() => setCreating(false)}
          onCreated={(made) => {
            setSecret({ name: made.name, secret: made.secret });
            robots.reload();
          }}
        />
      )}
      {secret && <SecretDialog name={secret.name} secret={secret.secret} onClose={() => setSecret(null)} />}
      {pending?.kind === "refresh" && (
        <ConfirmDialog
          title={`New secret for ${pending.robot.name}?`}
          confirmLabel="Refresh secret"
          onClose={() => setPending(null)}
          onConfirm={async () => {
            const answer = await patch<{ secret: string }>(`/robots/${pending.robot.id}`, {});
            setSecret({ name: pending.robot.name, secret: answer.secret });
          }}
        >
          <p>The current secret stops working at once; the new one is shown once.</p>
        </ConfirmDialog>
      )}
      {pending?.kind === "delete" && (
        <ConfirmDialog
          title={`Delete ${pending.robot.name}?`}
          confirmLabel="Delete"
          danger
          onClose={() => setPending(null)}
          onConfirm={async () => {
            await del(`/robots/${pending.robot.id}`);
            setNotice(`${pending.robot.name} is deleted.`);
            robots.reload();
          }}
        >
          <p>Whatever signs in with it stops working at once.</p>
        </ConfirmDialog>
      )}
    </div>
  );
}
