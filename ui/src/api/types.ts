// The shapes of Harbor's /api/v2.0 answers the UI reads (a subset of Harbor's swagger).

export interface SystemInfo {
  auth_mode?: string; // "db_auth" | "ldap_auth" | "oidc_auth"
  oidc_provider_name?: string;
  external_url?: string;
  registry_url?: string;
  harbor_version?: string;
  read_only?: boolean;
  self_registration?: boolean;
  project_creation_restriction?: string; // "everyone" | "adminonly"
  banner_message?: string;
}

export interface User {
  user_id: number;
  username: string;
  email: string;
  realname: string;
  comment: string;
  sysadmin_flag: boolean;
  admin_role_in_auth: boolean;
  /** Wharf's: whether the user may sign in (PUT /users/{id}/enabled) */
  enabled?: boolean;
  creation_time: string | null;
  update_time: string | null;
}

export interface ProjectMetadata {
  public?: string; // "true" | "false"
  [key: string]: string | undefined;
}

export interface Project {
  project_id: number;
  owner_id: number;
  name: string;
  owner_name: string;
  creation_time: string | null;
  update_time: string | null;
  current_user_role_id: number;
  current_user_role_ids: number[];
  repo_count: number;
  metadata: ProjectMetadata;
}

export interface ProjectSummary {
  repo_count: number;
  project_admin_count?: number;
  maintainer_count?: number;
  developer_count?: number;
  guest_count?: number;
  limited_guest_count?: number;
  quota?: { hard: Record<string, number>; used: Record<string, number> };
}

export interface ProjectDeletable {
  deletable: boolean;
  message: string;
}

export interface Repository {
  id: number;
  project_id: number;
  name: string; // "project/repo"
  description?: string;
  artifact_count: number;
  pull_count: number;
  creation_time: string | null;
  update_time: string | null;
}

export interface Member {
  id: number;
  project_id: number;
  entity_name: string;
  role_name: string;
  role_id: number;
  entity_id: number;
  entity_type: string; // "u" user, "g" group
}

export interface RobotAccess {
  resource: string;
  action: string;
  effect?: string;
}

export interface RobotPermission {
  kind: string; // "project"
  namespace: string;
  access: RobotAccess[];
}

export interface Robot {
  id: number;
  name: string;
  description: string;
  level: string;
  duration: number;
  editable: boolean;
  disable: boolean;
  expires_at: number;
  permissions: RobotPermission[];
  creation_time: string | null;
  update_time: string | null;
}

export interface RobotCreated {
  id: number;
  name: string;
  secret: string;
  creation_time: string | null;
  expires_at: number;
}

export interface AuditLog {
  id: number;
  username: string;
  resource: string;
  resource_type: string;
  operation: string;
  op_time: string | null;
  project?: string;
  client_ip?: string;
  result?: string;
  detail?: string;
}

export interface UserGroup {
  id: number;
  group_name: string;
  group_type: number;
  ldap_group_dn?: string;
}

export interface UserSearchItem {
  user_id: number;
  username: string;
}

/** Harbor's project roles, by role id. */
export const ROLES: Record<number, string> = {
  1: "Project admin",
  4: "Maintainer",
  2: "Developer",
  3: "Guest",
  5: "Limited guest",
};

export interface Platform {
  architecture?: string;
  os?: string;
  variant?: string;
  /** Harbor keeps the quotes in these two keys */
  "'os.version'"?: string;
  "'os.features'"?: string[];
}

export interface Reference {
  parent_id: number;
  child_id: number;
  child_digest: string;
  platform?: Platform | null;
  annotations?: Record<string, string> | null;
}

export interface Tag {
  id: number;
  repository_id: number;
  artifact_id: number;
  name: string;
  push_time: string | null;
  pull_time: string | null;
  immutable: boolean;
}

export interface Accessory {
  id: number;
  artifact_id: number;
  subject_artifact_id: number;
  subject_artifact_digest: string;
  subject_artifact_repo: string;
  size: number;
  digest: string;
  /** "signature.cosign", "signature.notation", "sbom.harbor", "attestation"… */
  type: string;
  creation_time: string | null;
}

export interface Label {
  id: number;
  name: string;
  description?: string;
  color?: string;
  scope?: string;
}

export interface Artifact {
  id: number;
  type: string; // IMAGE, CHART, CNAB, SBOM…
  media_type: string;
  manifest_media_type: string;
  artifact_type: string;
  project_id: number;
  repository_id: number;
  repository_name: string;
  digest: string;
  size: number;
  push_time: string | null;
  pull_time: string | null;
  extra_attrs: {
    architecture?: string;
    os?: string;
    variant?: string;
    created?: string;
    author?: string;
    config?: Record<string, unknown>;
    [key: string]: unknown;
  };
  annotations: Record<string, string>;
  references?: Reference[] | null;
  tags?: Tag[] | null;
  labels?: Label[] | null;
  accessories?: Accessory[] | null;
  addition_links: Record<string, { href: string; absolute: boolean }>;
}

/** One entry of an image config's history (the build_history addition). */
export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** An OCI/Docker manifest or index, as pushed (getArtifactManifest). */
export interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  platform?: { architecture?: string; os?: string; variant?: string };
  annotations?: Record<string, string>;
  artifactType?: string;
}

export interface ManifestDoc {
  schemaVersion?: number;
  mediaType?: string;
  artifactType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

// --- administration -------------------------------------------------------------------

/** The newer audit log (/auditlog-exts). */
export interface AuditLogExt {
  id: number;
  username: string;
  resource: string;
  resource_type: string;
  operation: string;
  operation_description: string;
  operation_result: boolean;
  op_time: string | null;
}

export interface AuditLogEventType {
  event_type: string; // "create_user": operation, then the resource type
}

export interface ScheduleObj {
  type: string; // Hourly, Daily, Weekly, Custom, Manual, None, Schedule
  cron: string;
  next_scheduled_time: string;
}

/** A garbage collection run, or the schedule (then job_kind is the cron). */
export interface GCHistory {
  id: number;
  job_name: string;
  job_kind: string;
  /** JSON: delete_untagged, dry_run, workers; when ended: freed_space, purged_blobs, purged_manifests */
  job_parameters: string;
  job_status: string; // Running, Success, Error, Stopped; a schedule: Scheduled
  deleted: boolean;
  schedule: ScheduleObj;
  creation_time: string;
  update_time: string;
}

export interface Statistic {
  private_project_count: number;
  private_repo_count: number;
  public_project_count: number;
  public_repo_count: number;
  total_project_count: number;
  total_repo_count: number;
  total_storage_consumption: number;
}

export interface SystemVolumes {
  storage: { total: number; free: number }[];
}

/** Harbor's quota of a project (/quotas?reference=project). */
export interface Quota {
  id: number;
  ref: { id?: number; name?: string; owner_name?: string } | null;
  hard: Record<string, number>;
  used: Record<string, number>;
}
