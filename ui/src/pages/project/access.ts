import type { Project } from "../../api/types";
import { isAdmin } from "../../session";

/** Whether the signed-in user administers `project` (members, robots, settings, delete). */
export function canManage(project: Project): boolean {
  return isAdmin() || project.current_user_role_id === 1 || project.current_user_role_ids?.includes(1);
}

export const projectApi = (project: Project | string) =>
  `/projects/${encodeURIComponent(typeof project === "string" ? project : project.name)}`;
