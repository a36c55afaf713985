"""`lepton-ci gitlab protect`: the spec's approvers become a protected environment's approval rules.

The fake follows gitlabhq doc/api/protected_environments.md (see tests/adapters/fakes/gitlab.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lepton_ci.errors import SpecError
from lepton_ci.spec.loader import parse_spec
from tests.adapters.conftest import CANARIES
from tests.adapters.fakes.gitlab import FakeGitLab

SPEC = """\
project: {name: Digits CNN, model: digits-cnn}
train: {entrypoint: digits.train:main}
evaluate: {entrypoint: digits.evaluate:main}
deploy:
  environments:
    - name: staging
    - name: production
      approval: true
      approvers: [{approvers}]
"""


def spec(repo: Path, approvers: str) -> None:
    (repo / "lepton.yaml").write_text(SPEC.replace("{approvers}", approvers))


def rules(gitlab: FakeGitLab, env: str = "production") -> list[tuple[str | None, int | None]]:
    """(principal, required approvals) of each approval rule, as GitLab lists them."""
    return sorted(
        (str(r["access_level_description"]), r["required_approvals"])
        for r in gitlab.protected[env]["approval_rules"]
    )


def test_approvers_become_approval_rules_and_staging_is_left_alone(cli, gitlab, repo):
    others = {  # protected by hand, listed on pages before ours: never touched
        name: {"name": name, "deploy_access_levels": [], "approval_rules": []}
        for name in ("dev", "qa", "review")
    }
    gitlab.protected.update(others)
    spec(repo, "alice, ml/leads")
    result = cli("gitlab", "protect", "--project", "42")
    assert result.code == 0, result.output
    assert "protected environment production: created" in result.out
    assert "environment staging: no approval in the spec, left alone" in result.out
    assert set(gitlab.protected) == {*others, "production"}
    assert [r.path for r in gitlab.writes()] == ["/api/v4/projects/42/protected_environments"]
    assert rules(gitlab) == [("alice", 1), ("ml/leads", 1)]
    (deploy,) = gitlab.protected["production"]["deploy_access_levels"]
    assert deploy["access_level"] == 30  # developers may run the job once it is approved


def test_a_rerun_with_the_same_spec_writes_nothing(cli, gitlab, repo):
    spec(repo, "alice, ml/leads")
    assert cli("gitlab", "protect", "--project", "42").code == 0
    writes = len(gitlab.writes())
    again = cli("gitlab", "protect", "--project", "42")
    assert again.code == 0, again.output
    assert "protected environment production: unchanged" in again.out
    assert len(gitlab.writes()) == writes


def test_changed_approvers_are_added_and_removed_in_one_put(cli, gitlab, repo):
    spec(repo, "alice, ml/leads")
    cli("gitlab", "protect", "--project", "42")
    (alice,) = [r for r in gitlab.protected["production"]["approval_rules"] if r["user_id"] == 7]
    spec(repo, "bob, ml/leads")
    result = cli("gitlab", "protect", "--project", "42")
    assert result.code == 0, result.output
    assert "protected environment production: updated" in result.out
    assert "+ approval: user bob (1)" in result.out and "- approval: alice" in result.out
    (put,) = gitlab.seen("PUT", r"/protected_environments/production$")
    assert put.json() == {
        "approval_rules": [
            {"user_id": 8, "required_approvals": 1},
            {"id": alice["id"], "_destroy": True},
        ]
    }
    assert rules(gitlab) == [("bob", 1), ("ml/leads", 1)]


def test_dry_run_of_a_change_prints_it_and_writes_nothing(cli, gitlab, repo):
    spec(repo, "alice")
    cli("gitlab", "protect", "--project", "42")
    writes = len(gitlab.writes())
    spec(repo, "bob")
    result = cli("gitlab", "protect", "--project", "42", "--dry-run")
    assert "protected environment production: would be updated" in result.out
    assert "+ approval: user bob (1)" in result.out and "- approval: alice" in result.out
    assert len(gitlab.writes()) == writes and rules(gitlab) == [("alice", 1)]


def test_a_rule_edited_in_the_ui_is_set_back(cli, gitlab, repo):
    spec(repo, "ml-ops")
    cli("gitlab", "protect", "--project", "42")
    gitlab.protected["production"]["approval_rules"][0]["required_approvals"] = 3
    result = cli("gitlab", "protect", "--project", "42")
    assert "~ approval: group ml-ops (3 -> 1)" in result.out
    assert rules(gitlab) == [("ml-ops", 1)]


def test_without_approvers_a_maintainer_must_approve(cli, gitlab, repo):
    (repo / "lepton.yaml").write_text(SPEC.replace("      approvers: [{approvers}]\n", ""))
    assert cli("gitlab", "protect", "--project", "42").code == 0
    assert rules(gitlab) == [("Maintainers", 1)]


def test_dry_run_looks_up_but_writes_nothing(cli, gitlab, repo):
    spec(repo, "alice")
    result = cli("gitlab", "protect", "--project", "42", "--dry-run")
    assert result.code == 0, result.output
    assert "protected environment production: would be created" in result.out
    assert "approval: user alice (1)" in result.out
    assert gitlab.writes() == [] and gitlab.protected == {}


def test_an_unknown_approver_names_the_spec_field_and_writes_nothing(cli, gitlab, repo):
    spec(repo, "alice, carol, ml/nobody")
    result = cli("gitlab", "protect", "--project", "42")
    assert result.code == 3, result.output  # a spec error
    assert (
        "deploy.environments[1].approvers[1]: 'carol' is neither a user nor a group" in result.err
    )
    assert "deploy.environments[1].approvers[2]: 'ml/nobody'" in result.err
    assert "lepton.yaml" in result.err and "Traceback" not in result.output
    assert gitlab.writes() == []


def test_the_unknown_approver_message_shows_no_credentials(cli, gitlab, repo, monkeypatch):
    canary = CANARIES["GITLAB_TOKEN"]
    monkeypatch.setenv("GITLAB_URL", gitlab.url.replace("://", f"://bot:{canary}@"))
    spec(repo, "carol")
    result = cli("--verbose", "gitlab", "protect", "--project", "42")
    assert result.code == 3 and "'carol' is neither a user nor a group on http://***@" in result.err
    assert canary not in result.output


@pytest.mark.parametrize(
    ("tier", "said"),
    [("ce", "no protected environments API"), ("free", "refused the protected environments")],
)
def test_a_free_tier_instance_is_explained(cli, gitlab, repo, tier, said):
    spec(repo, "alice")
    gitlab.tier = tier
    result = cli("gitlab", "protect", "--project", "42")
    assert result.code == 6
    assert said in result.err and "GitLab Premium or Ultimate" in result.err
    assert "Traceback" not in result.output and gitlab.writes() == []


def test_a_job_token_is_told_to_use_a_project_access_token(cli, gitlab, repo, monkeypatch):
    monkeypatch.delenv("GITLAB_TOKEN")
    monkeypatch.setenv("CI_JOB_TOKEN", CANARIES["CI_JOB_TOKEN"])
    spec(repo, "alice")
    result = cli("gitlab", "protect", "--project", "42")
    assert result.code == 6
    assert "CI_JOB_TOKEN may not do this" in result.err and "Premium" not in result.err


def test_a_missing_project_is_not_blamed_on_the_tier(cli, gitlab, repo):
    spec(repo, "alice")
    result = cli("gitlab", "protect", "--project", "ml/other")
    assert result.code == 6
    assert "project 'ml/other'" in result.err and "Premium" not in result.err


def test_a_spec_without_approval_environments_is_told_so(cli, gitlab, repo):
    result = cli("gitlab", "protect", "--project", "42")  # the conftest spec: staging only
    assert result.code == 1
    assert "no environment sets `approval: true`" in result.err
    assert gitlab.requests == []


@pytest.mark.parametrize("name", ["alice", "ops-team", "ml/leads", "ml/leads/on-call", "a.b@corp"])
def test_approvers_are_usernames_or_group_paths(name):
    spec = parse_spec(SPEC.replace("{approvers}", f"'{name}'"), "lepton.yaml")
    assert spec.deploy.environments[1].approvers == [name]


@pytest.mark.parametrize("name", ["ml//leads", "/ml", "ml/", "a b", "role:x", "ml/le@ds"])
def test_other_approver_spellings_are_spec_errors_naming_the_field(name):
    with pytest.raises(SpecError) as caught:
        parse_spec(SPEC.replace("{approvers}", f"'{name}'"), "lepton.yaml")
    assert "deploy.environments[1].approvers[0]" in str(caught.value)
