"""What a principal may do: the scopes a token is issued for, and whether a push may go
into a project (created on the fly for system admins with ``auto_create_projects``)."""

from __future__ import annotations

from wharf.auth.models import PULL, PUSH, REGISTRY_ACTIONS, project_of
from wharf.auth.options import AuthOptions
from wharf.auth.principals import Principal
from wharf.auth.projects import Projects, valid_project_name
from wharf.auth.scopes import Scope
from wharf.auth.store import AuthStore
from wharf.registry.oci.names import is_valid_name


class Grants:
    def __init__(self, store: AuthStore, options: AuthOptions, projects: Projects) -> None:
        self.store = store
        self.options = options
        self.projects = projects

    async def grant(self, principal: Principal, scopes: list[Scope]) -> list[Scope]:
        """The intersection of what was asked and what is allowed; never an error."""
        projects = {project_of(s.name) for s in scopes if s.type == "repository"}
        existing = await self.store.existing_projects(projects)
        granted: list[Scope] = []
        for scope in scopes:
            if scope.type == "registry" and scope.name == "catalog":
                if principal.authenticated and scope.actions & {"*"}:
                    granted.append(Scope("registry", "catalog", frozenset({"*"})))
                continue
            if scope.type != "repository" or not is_valid_name(scope.name):
                continue
            project = project_of(scope.name)
            allowed = set(principal.repo_actions(scope.name))
            if project not in existing:
                allowed = set()
                if principal.sysadmin and self.options.auto_create_projects:
                    allowed = {PULL, PUSH}
            asked = set(scope.actions)
            if "*" in asked:
                asked = set(REGISTRY_ACTIONS)
            actions = frozenset(asked & allowed)
            if actions:
                granted.append(Scope("repository", scope.name, actions))
        return granted

    async def ensure_project_for_push(self, principal: Principal, repo: str) -> bool:
        """True when the repository's project exists, creating it for a system admin
        when ``auto_create_projects`` is on."""
        project = project_of(repo)
        if await self.store.get_project(project) is not None:
            return True
        if not (principal.sysadmin and self.options.auto_create_projects):
            return False
        if not valid_project_name(project):
            return False
        await self.projects.create(principal, project, public=False)
        return True
