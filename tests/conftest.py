"""Suite-wide marks: the fast lane is ``bash .ci/test -m "not slow and not docker"``.

Tests that start a JVM (the Groovy stub and npm-groovy-lint: 1.7-4.6 s a start), an npm tool
(gitlab-ci-local) or train a real model for several epochs are ``slow`` by the module or test
they live in, listed here so a new test in those files is slow without remembering the mark.

Also: tests run as on a developer's machine unless a test sets CI variables itself. The
registry refuses a workspace-local SQLite file in CI (``CI``, ``GITLAB_CI``, ``JENKINS_URL``);
a suite run inside a CI job must not inherit that from its own job.
"""

from __future__ import annotations

import os

import pytest

SLOW_MODULES = {
    "tests/jenkins/test_tags.py",  # the Groovy stub, one JVM per case batch
    "tests/jenkins/test_evaluate.py",
    "tests/jenkins/test_library.py",
    "tests/jenkins/test_retry.py",
    "tests/jenkins/test_extract.py",
    "tests/jenkins/test_lint.py",  # npm-groovy-lint (Groovy 4 in a JVM)
    "tests/golden/test_parity.py",  # Groovy evaluation of every golden Jenkinsfile
    "tests/gitlab/test_gitlab_ci_local.py",  # gitlab-ci-local (node)
    "tests/gitlab/test_tags.py",
    "tests/core/test_fuzz.py",  # hypothesis, judged by Ruby Psych and Groovy 2.4 (a JVM)
    # the Groovy stub evaluating Jenkinsfiles and the library, one JVM per batch
    "tests/jenkins/test_approvals.py",
    "tests/jenkins/test_injection.py",
    "tests/jenkins/test_register_handoff.py",
    "tests/jenkins/test_stub_catch_error.py",
    "tests/jenkins/test_stub_flow.py",
    "tests/jenkins/test_stub_semantics.py",
    "tests/jenkins/test_synced_job.py",
    "tests/golden/test_rule_parity.py",  # the stub and gitlab-ci-local over every trigger x ref
}
SLOW_TESTS = {
    "tests/runtime/test_train.py::test_cache_hit_skips_training_and_no_cache_retrains",
    "tests/runtime/test_train.py::test_same_seed_gives_identical_weights_and_another_seed_does_not",
    "tests/runtime/test_train.py::test_a_crashing_entrypoint_fails_the_step_and_leaves_no_artifact",
    "tests/runtime/test_evaluate.py::test_a_failing_gate_exits_4_after_writing_every_report",
    "tests/serve/test_server.py::test_several_workers_each_verify_and_serve",
    "tests/serve/test_server.py::test_idle_and_trickling_connections_are_closed_and_requests_still_served",
    "tests/serve/test_fd_limit.py::test_more_idle_connections_than_descriptors_cost_one_log_line_not_a_flood",
    "tests/runtime/test_trainer_process.py::test_a_rerun_stops_the_trainer_a_kill_9_left_behind",
}


LONGEST_FIRST = (
    "tests/e2e/test_gitlab_as_init_writes_it.py",  # ~7 min of pipelines: the critical path
    "tests/e2e/test_local_run.py",
    "tests/jenkins/test_tags.py",
    "tests/jenkins/test_retry.py",
    "tests/jenkins/test_evaluate.py",
    "tests/jenkins/test_approvals.py",
    "tests/runtime/test_train.py",
    "tests/deploy/test_docker.py",
    "tests/e2e/test_gitlab_ci_local.py",
    "tests/core/test_code_quality.py",
    "tests/e2e/test_housing_example.py",
    "tests/jenkins/test_lint.py",
)
"""Modules that start first (`.ci/test` gives whole files to 2 workers, in collection order):
with the longest at the end, one worker would run it alone while the other idles. Tests keep
their order within a module; any order is correct, this one is only faster."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        test = item.nodeid.split("[", 1)[0]
        if module in SLOW_MODULES or test in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
    rank = {module: n for n, module in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


CI_VARIABLES = ("CI", "GITLAB_CI", "JENKINS_URL")


def pytest_configure(config: pytest.Config) -> None:
    # before any fixture, session- and module-scoped ones included
    for var in CI_VARIABLES:
        os.environ.pop(var, None)


@pytest.fixture(autouse=True)
def _not_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in CI_VARIABLES:
        monkeypatch.delenv(var, raising=False)
