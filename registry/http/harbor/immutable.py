"""Harbor's /projects/{project_name_or_id}/immutabletagrules (v2.15 swagger:
``ImmutableRule``, ``ImmutableSelector``; operations ListImmuRules, CreateImmuRule,
UpdateImmuRule, DeleteImmuRule). Access: the project's ``immutable-tag`` policies
(maintainers and project admins). The rules themselves and the gate that enforces them
are ``wharf.registry.policy.immutable``'s."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from wharf.auth.errors import AlreadyExists, BadRequest, NotFound
from wharf.auth.models import Project, policy
from wharf.auth.principals import Principal
from wharf.registry.http.harbor.common import (
    auth_of,
    authenticated,
    created_here,
    ok,
    paged,
    project_ref,
)
from wharf.registry.http.harbor.query import list_query, page_of
from wharf.registry.http.harbor.rules import rule_of, selector_fields
from wharf.registry.http.harbor.spec import (
    IS_RESOURCE_NAME,
    LISTING,
    PAGE_HEADERS,
    PROJECT_NAME_OR_ID,
    Api,
    Model,
    Param,
    Reply,
    read_body,
)
from wharf.registry.http.keys import IMMUTABLE
from wharf.registry.policy.immutable import (
    IMMUTABLE_ACTION,
    IMMUTABLE_TEMPLATE,
    ImmutableRules,
    InvalidRule,
)
from wharf.registry.policy.models import ImmutableRule as StoredRule
from wharf.registry.policy.models import Rule, Selector
from wharf.registry.policy.store import Conflict

api = Api("immutable")

RULE_ID = Param("immutable_rule_id", "path", int, "The ID of the immutable rule", required=True)
PARAMS = (IS_RESOURCE_NAME, PROJECT_NAME_OR_ID)


class ImmutableSelector(Model):
    kind: str | None = None
    decoration: str | None = None
    pattern: str | None = None
    extras: str | None = None


class ImmutableRule(Model):
    id: int | None = None
    priority: int | None = None
    disabled: bool | None = None
    action: str | None = None
    template: str | None = None
    params: dict[str, Any] | None = None
    tag_selectors: list[ImmutableSelector] | None = None
    scope_selectors: dict[str, list[ImmutableSelector]] | None = None


def immutable_rule_of(sent: ImmutableRule, rule_id: int = 0) -> Rule:
    return rule_of(sent, rule_id, template=IMMUTABLE_TEMPLATE, action=IMMUTABLE_ACTION)


def selector_doc(selector: Selector) -> ImmutableSelector:
    return ImmutableSelector(**selector_fields(selector))


def rule_doc(found: StoredRule) -> ImmutableRule:
    rule = found.rule
    return ImmutableRule(
        id=found.id,
        priority=rule.priority,
        disabled=rule.disabled,
        action=rule.action,
        template=rule.template,
        params=rule.params,
        tag_selectors=[selector_doc(s) for s in rule.tag_selectors],
        scope_selectors={k: [selector_doc(s) for s in v] for k, v in rule.scope_selectors.items()},
    )


async def _project(request: web.Request, actor: Principal, action: str) -> Project:
    return await auth_of(request).projects.require(
        actor, project_ref(request), policy("immutable-tag", action)
    )


def _rules(request: web.Request) -> ImmutableRules:
    return request.config_dict[IMMUTABLE]


async def _rule(request: web.Request, project: Project) -> StoredRule:
    rule_id = int(request.match_info["immutable_rule_id"])
    found = await _rules(request).get(project.id, rule_id)
    if found is None:
        raise NotFound(f"immutable rule {rule_id} not found")
    return found


@api.operation(
    "ListImmuRules",
    "GET",
    "/projects/{project_name_or_id}/immutabletagrules",
    summary="List all immutable tag rules of current project",
    params=(*PARAMS, *LISTING),
    replies={200: Reply("Success", list[ImmutableRule], PAGE_HEADERS)},
    errors=(400, 401, 403, 404),
)
@authenticated
async def list_rules(request: web.Request, actor: Principal) -> web.StreamResponse:
    project = await _project(request, actor, "list")
    query = list_query(request)
    rules = await _rules(request).list(project.id)
    docs = [rule_doc(r) for r in page_of(rules, query)]
    return paged(request, docs, len(rules), query)


@api.operation(
    "CreateImmuRule",
    "POST",
    "/projects/{project_name_or_id}/immutabletagrules",
    summary="Add an immutable tag rule to current project",
    params=PARAMS,
    body=ImmutableRule,
    replies={201: Reply("Created", headers=("Location",))},
    errors=(400, 401, 403, 404, 409),
)
@authenticated
async def create_rule(request: web.Request, actor: Principal) -> web.StreamResponse:
    project = await _project(request, actor, "create")
    sent = await read_body(request, ImmutableRule)
    try:
        created = await _rules(request).create(project.id, project.name, immutable_rule_of(sent))
    except InvalidRule as exc:
        raise BadRequest(str(exc)) from None
    except Conflict as exc:
        raise AlreadyExists(str(exc)) from None
    return created_here(request, created.id, str(created.id))


@api.operation(
    "UpdateImmuRule",
    "PUT",
    "/projects/{project_name_or_id}/immutabletagrules/{immutable_rule_id}",
    summary="Update the immutable tag rule or enable or disable the rule",
    params=(*PARAMS, RULE_ID),
    body=ImmutableRule,
    replies={200: Reply("Success")},
    errors=(400, 401, 403, 404, 409),
)
@authenticated
async def update_rule(request: web.Request, actor: Principal) -> web.StreamResponse:
    sent = await read_body(request, ImmutableRule)
    rule_id = int(request.match_info["immutable_rule_id"])
    if sent.id != rule_id:
        raise BadRequest(
            "the immutable_rule_id doesn't match the id in the payload body of ImmutableRule"
        )
    project = await _project(request, actor, "update")
    found = await _rule(request, project)
    rule = found.rule
    # a body carrying only ``disabled`` (the portal's toggle) keeps the selectors
    if sent.tag_selectors is not None or sent.scope_selectors is not None:
        rule = immutable_rule_of(sent, found.id)
    elif sent.disabled is not None:
        rule = Rule(
            template=rule.template,
            tag_selectors=rule.tag_selectors,
            scope_selectors=rule.scope_selectors,
            action=rule.action,
            params=rule.params,
            priority=rule.priority if sent.priority is None else sent.priority,
            disabled=sent.disabled,
            id=found.id,
        )
    try:
        await _rules(request).update(found, rule)
    except InvalidRule as exc:
        raise BadRequest(str(exc)) from None
    except Conflict as exc:
        raise AlreadyExists(str(exc)) from None
    except LookupError:
        raise NotFound(f"immutable {rule_id} not found") from None
    return ok()


@api.operation(
    "DeleteImmuRule",
    "DELETE",
    "/projects/{project_name_or_id}/immutabletagrules/{immutable_rule_id}",
    summary="Delete the immutable tag rule.",
    params=(*PARAMS, RULE_ID),
    replies={200: Reply("Success")},
    errors=(400, 401, 403, 404),
)
@authenticated
async def delete_rule(request: web.Request, actor: Principal) -> web.StreamResponse:
    project = await _project(request, actor, "delete")
    found = await _rule(request, project)
    if not await _rules(request).delete(found):
        raise NotFound(f"immutable rule {found.id} not found")
    return ok()
