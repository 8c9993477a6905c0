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
