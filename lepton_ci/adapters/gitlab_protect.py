"""Deployment approvals on GitLab: the spec's ``approval``/``approvers`` as a protected environment.

``when: manual`` alone lets anyone who may run the job deploy. GitLab's real gate is a protected
environment with approval rules (Premium/Ultimate): every deployment job for it waits, blocked,
until each rule has its approvals, and the pipeline's triggerer may not approve their own one
(upstream: gitlab doc/ci/environments/deployment_approvals.md). This module sets the rules from
the spec through the protected environments API (doc/api/protected_environments.md):

- each ``approvers`` entry is one rule needing one approval: a GitLab username (``alice``) or a
  group's full path (``ml/leads``); users and top-level groups share GitLab's namespace paths, so
  a name is looked up as a user first, then as a group;
- no ``approvers``: one rule for the Maintainer role (access level 40);
- who may *deploy* is set only when the environment is first protected (Developers, 30, so an
  approver can approve and run the job); tighten it in Settings > CI/CD and lepton-ci keeps it.

Rules go in ``approval_rules``, not the deprecated unified ``required_approval_count`` (no
longer a parameter in the current API docs). The approval rules are lepton-ci's: a rerun with
an unchanged spec writes nothing, a changed spec adds and removes rules (``_destroy``) in one PUT.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from lepton_ci.adapters.base import AuthError, NotFound
from lepton_ci.adapters.gitlab import GitLabServer
from lepton_ci.errors import Problem, ServerError, SpecError
from lepton_ci.redaction import redact

DEVELOPER, MAINTAINER = 30, 40  # ProtectedEnvironments::DeployAccessLevel::ALLOWED_ACCESS_LEVELS
_ROLE = {DEVELOPER: "Developer role", MAINTAINER: "Maintainer role"}
_TIER = (
    "protected environments and deployment approvals need GitLab Premium or Ultimate "
    "(a Free-tier instance answers 403 or 404)"
)

RuleKey = tuple[str, int]  # ("user_id", 7) | ("group_id", 134) | ("access_level", 40)


@dataclass(frozen=True)
class Rule:
    """One approval rule: who approves, as the spec names it and as GitLab identifies it."""

    key: RuleKey
    label: str  # "user alice", "group ml/leads", "Maintainer role"
    required_approvals: int = 1


@dataclass(frozen=True)
class Protection:
    """An environment the spec wants approved, with its spec field (for error messages)."""

    environment: str
    field: tuple[str | int, ...]  # ("deploy", "environments", 1)
    approvers: tuple[str, ...]


@dataclass(frozen=True)
class ProtectResult:
    environment: str
    action: str  # "created" | "updated" | "unchanged" (with --dry-run: "would be created", …)
    changes: tuple[str, ...] = ()


def rule_key(entry: dict[str, Any]) -> RuleKey:
    """The principal of an approval rule or deploy access level as GitLab returns it."""
    if entry.get("user_id"):
        return ("user_id", int(entry["user_id"]))
    if entry.get("group_id"):
        return ("group_id", int(entry["group_id"]))
    return ("access_level", int(entry.get("access_level") or 0))


def resolve_rules(
    server: GitLabServer, wanted: Sequence[Protection], spec_file: str
) -> dict[str, tuple[Rule, ...]]:
    """Each environment's rules, with every approver resolved; all unknown names in one error."""
    problems: list[Problem] = []
    out: dict[str, tuple[Rule, ...]] = {}
    for env in wanted:
        rules: list[Rule] = []
        for index, name in enumerate(env.approvers):
            rule = _resolve(server, name)
            if rule is None:
                problems.append(
                    Problem(
                        f"{name!r} is neither a user nor a group on {redact(server.url)}",
                        path=(*env.field, "approvers", index),
                        hint="write a GitLab username (alice) or a group's full path (ml/leads); "
                        "the user must be a member of the project, the group must have it shared",
                    )
                )
            elif rule.key not in {r.key for r in rules}:
                rules.append(rule)
        out[env.environment] = tuple(rules) or (Rule(("access_level", MAINTAINER), _ROLE[40]),)
    if problems:
        raise SpecError(spec_file, problems)
    return out


def _resolve(server: GitLabServer, name: str) -> Rule | None:
    if "/" not in name:
        users = server._call(
            f"looking up the user {name!r}",
            lambda: server.client.users.list(username=name, get_all=False),
        )
        for user in users:
            if str(user.attributes.get("username", "")).lower() == name.lower():
                return Rule(("user_id", int(user.attributes["id"])), f"user {name}")
    try:
        group = server._call(
            f"looking up the group {name!r}",
            lambda: server.client.groups.get(name, with_projects=False),
            subject=f"group {name!r}",
        )
    except NotFound:
        return None
    return Rule(("group_id", int(group.attributes["id"])), f"group {name}")


def protected_environments(server: GitLabServer, project: str) -> dict[str, dict[str, Any]]:
    """The project's protected environments by name; a Free-tier refusal explained."""
    manager = server.project(project).protected_environments
    try:
        found = server._call(
            "listing protected environments",
            lambda: manager.list(get_all=True, per_page=100),
            subject=f"project {project!r}",
        )
    except (AuthError, NotFound) as exc:
        raise _tier_error(server, project, exc) from None
    return {str(e.attributes["name"]): dict(e.attributes) for e in found}


def _tier_error(server: GitLabServer, project: str, exc: ServerError) -> ServerError:
    """403/404 from the API: no Premium, no permission, or no such project; say which we know."""
    if server.token_name == "CI_JOB_TOKEN":
        return exc  # a job token may not manage environments on any tier; its hint says so
    if isinstance(exc, NotFound):
        server._call(  # raises NotFound itself when the project is what is missing
            "reading the project",
            lambda: server.client.projects.get(project),
            subject=f"project {project!r}",
        )
        return NotFound(
            f"GitLab has no protected environments API for project {project!r} (HTTP 404)",
            hint=f"{_TIER}; GitLab Community Edition has none at all",
        )
    return AuthError(
        f"GitLab refused the protected environments of project {project!r} (HTTP 403)",
        hint=f"{_TIER}; and {server.token_name} needs the `api` scope and the Maintainer role",
    )


def ensure_protection(
    server: GitLabServer,
    project: str,
    wanted: Sequence[Protection],
    *,
    spec_file: str,
    dry_run: bool = False,
) -> list[ProtectResult]:
    """Create or update each environment's protection; no write where it already matches."""
    existing = protected_environments(server, project)
    rules = resolve_rules(server, wanted, spec_file)
    results = []
    for env in wanted:
        results.append(
            _ensure_one(server, project, env.environment, rules[env.environment], existing, dry_run)
        )
    return results


def _ensure_one(
    server: GitLabServer,
    project: str,
    name: str,
    rules: tuple[Rule, ...],
    existing: dict[str, dict[str, Any]],
    dry_run: bool,
) -> ProtectResult:
    would = "would be " if dry_run else ""
    if name not in existing:
        body = {
            "name": name,
            "deploy_access_levels": [{"access_level": DEVELOPER}],
            "approval_rules": [_new_rule(r) for r in rules],
        }
        changes = (
            f"deploy: {_ROLE[DEVELOPER]}",
            *(f"approval: {r.label} ({r.required_approvals})" for r in rules),
        )
        if not dry_run:
            manager = server.project(project).protected_environments
            _write(server, project, name, lambda: manager.create(body))
        return ProtectResult(name, f"{would}created", changes)
    have = {rule_key(r): r for r in existing[name].get("approval_rules") or []}
    want = {r.key: r for r in rules}
    edits: list[dict[str, Any]] = []
    changes_list: list[str] = []
    for key, rule in want.items():
        current = have.get(key)
        if current is None:
            edits.append(_new_rule(rule))
            changes_list.append(f"+ approval: {rule.label} ({rule.required_approvals})")
        elif int(current.get("required_approvals") or 0) != rule.required_approvals:
            edits.append({"id": current["id"], "required_approvals": rule.required_approvals})
            changes_list.append(
                f"~ approval: {rule.label} ({current.get('required_approvals')} -> "
                f"{rule.required_approvals})"
            )
    for key, current in have.items():
        if key not in want:
            edits.append({"id": current["id"], "_destroy": True})
            what = current.get("access_level_description") or f"{key[0]} {key[1]}"
            changes_list.append(f"- approval: {what}")
    if not edits:
        return ProtectResult(name, "unchanged")
    if not dry_run:
        path = f"{server.project(project).protected_environments.path}/{quote(name, safe='')}"
        _write(
            server,
            project,
            name,
            lambda: server.client.http_put(path, post_data={"approval_rules": edits}),
        )
    return ProtectResult(name, f"{would}updated", tuple(changes_list))


def _new_rule(rule: Rule) -> dict[str, Any]:
    kind, ref = rule.key
    return {kind: ref, "required_approvals": rule.required_approvals}


def _write(server: GitLabServer, project: str, name: str, func: Callable[[], object]) -> None:
    try:
        server._call(
            f"protecting the environment {name!r}",
            func,
            subject=f"project {project!r}",
            write=True,
        )
    except (AuthError, NotFound) as exc:
        raise _tier_error(server, project, exc) from None
