"""`lepton-ci jenkins build` and `jenkins lint` against a controller, errors included."""

from __future__ import annotations

from pathlib import Path

from tests.adapters.fakes.base import Reply
from tests.adapters.fakes.jenkins import FakeJenkins, Script

REPORT = {
    "passCount": 1,
    "failCount": 1,
    "skipCount": 0,
    "suites": [
        {
            "name": "lepton-ci.gates",
            "cases": [
                {"name": "accuracy >= 0.9", "status": "PASSED"},
                {"name": "macro_f1 >= champion - 0.01", "status": "REGRESSION"},
            ],
        }
    ],
}


def synced(cli, jenkins: FakeJenkins) -> None:  # type: ignore[no-untyped-def]
    # a Pipeline job takes build parameters itself (in a multibranch project, its branch jobs do)
    args = ("--repo-url", "https://git.example.com/d.git", "--kind", "pipeline")
    assert cli("jenkins", "sync", *args).code == 0


def test_build_streams_the_console_and_passes_parameters(cli, jenkins: FakeJenkins, repo: Path):
    synced(cli, jenkins)
    jenkins.script = Script(
        chunks=["Started by lepton-ci\n", "[train] epoch 1\n", "Finished: SUCCESS\n"],
        report={**REPORT, "failCount": 0, "passCount": 2, "suites": []},
    )
    result = cli(
        "jenkins",
        "build",
        "--job",
        "digits-cnn",
        "-p",
        "LEPTON_DEPLOY_DISABLED=true",
        "--poll-interval",
        "0",
    )
    assert result.code == 0, result.output
    # the whole log, once, in order, though it arrived in pieces
    assert "Started by lepton-ci\n[train] epoch 1\nFinished: SUCCESS\n" in result.out
    assert "gates: 2 passed, 0 failed" in result.out
    build = jenkins.jobs["digits-cnn"].builds[1]
    assert build.params == {"LEPTON_DEPLOY_DISABLED": "true"}
    starts = [r.query["start"][0] for r in jenkins.seen("GET", "progressiveText$")]
    assert starts[0] == "0" and starts == sorted(starts, key=int) and len(set(starts)) > 1
    assert jenkins.seen("POST", "/job/digits-cnn/buildWithParameters$")


def test_failed_gates_exit_4_and_are_named(cli, jenkins: FakeJenkins, repo: Path):
    synced(cli, jenkins)
    jenkins.script = Script(result="FAILURE", report=REPORT)
    result = cli("jenkins", "build", "--job", "digits-cnn", "--poll-interval", "0")
    assert result.code == 4, result.output
    assert "gates: 1 passed, 1 failed" in result.out
    assert "FAILED macro_f1 >= champion - 0.01" in result.out
    assert "build #1: FAILURE" in result.out


def test_a_failed_build_without_test_report_exits_1(cli, jenkins: FakeJenkins, repo: Path):
    synced(cli, jenkins)
    jenkins.script = Script(result="FAILURE", report=None)
    result = cli("jenkins", "build", "--job", "digits-cnn", "--poll-interval", "0")
    assert result.code == 1, result.output
    assert "no test report published" in result.out
    assert "ended FAILURE" in result.err


def test_unknown_job_is_named(cli, jenkins: FakeJenkins):
    result = cli("jenkins", "build", "--job", "ml/nope", "--poll-interval", "0")
    assert result.code == 6
    assert "job 'ml/nope'" in result.err
    assert "Traceback" not in result.output


def test_bad_token_says_which_token(cli, jenkins: FakeJenkins, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("JENKINS_TOKEN", "wrong-token-value")
    result = cli("jenkins", "build", "--job", "digits-cnn")
    assert result.code == 6
    assert "HTTP 401" in result.err and "JENKINS_TOKEN" in result.err
    assert "Invalid password/token for user" in result.err  # the controller's own words


def test_missing_permission_names_it(cli, jenkins: FakeJenkins, repo: Path):
    jenkins.read_only = True
    result = cli("jenkins", "sync", "--repo-url", "https://git.example.com/d.git")
    assert result.code == 6
    assert "HTTP 403" in result.err
    assert "missing the Job/Create permission" in result.err
    assert "Job/Configure" in result.err  # the hint lists what sync needs


def test_5xx_is_retried_with_backoff(cli, jenkins: FakeJenkins, repo: Path):
    jenkins.fail("GET", r"/config\.xml$", Reply(503, "<h1>Service Unavailable</h1>"), times=2)
    result = cli("jenkins", "sync", "--repo-url", "https://git.example.com/d.git")
    assert result.code == 0, result.output
    assert len(jenkins.seen("GET", r"/config\.xml$")) == 3


def test_persistent_5xx_becomes_a_server_error(cli, jenkins: FakeJenkins, repo: Path):
    jenkins.fail("GET", r"/config\.xml$", Reply(502, "<h1>Bad Gateway</h1>from nginx"), times=99)
    result = cli("jenkins", "sync", "--repo-url", "https://git.example.com/d.git")
    assert result.code == 6
    assert "HTTP 502" in result.err and "Bad Gateway from nginx" in result.err
    assert "gave up after 3 attempts" in result.err
    assert len(jenkins.seen("GET", r"/config\.xml$")) == 3
    assert "Traceback" not in result.output


def test_timeouts_are_retried_then_reported(cli, jenkins: FakeJenkins, repo: Path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LEPTON_HTTP_TIMEOUT", "0.2")
    monkeypatch.setenv("LEPTON_HTTP_RETRIES", "2")
    jenkins.fail("GET", r"/config\.xml$", Reply(200, "<x/>", delay=0.6), times=99)
    result = cli("jenkins", "sync", "--repo-url", "https://git.example.com/d.git")
    assert result.code == 6
    assert "did not answer" in result.err and "LEPTON_HTTP_TIMEOUT" in result.err


def test_unreachable_controller(cli, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("JENKINS_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("JENKINS_USER", "u")
    monkeypatch.setenv("JENKINS_TOKEN", "t0ken-value")
    result = cli("jenkins", "build", "--job", "x")
    assert result.code == 6
    assert "cannot reach Jenkins" in result.err


def test_missing_url_is_a_usage_error(cli):  # type: ignore[no-untyped-def]
    result = cli("jenkins", "build", "--job", "x")
    assert result.code == 2
    assert "JENKINS_URL is not set" in result.err


def test_lint_accepts_a_valid_jenkinsfile_with_the_crumb(cli, jenkins: FakeJenkins, tmp_path: Path):
    good = tmp_path / "Jenkinsfile"
    good.write_text("pipeline {\n  agent any\n  stages { stage('a') { steps { sh 'true' } } }\n}\n")
    result = cli("jenkins", "lint", str(good))
    assert result.code == 0, result.output
    assert "successfully validated" in result.out
    (post,) = jenkins.seen("POST", "^/pipeline-model-converter/validate$")
    assert post.headers["jenkins-crumb"]
    assert post.form()["jenkinsfile"][0] == good.read_text()


def test_lint_rejection_exits_3_with_the_linters_words(cli, jenkins: FakeJenkins, tmp_path: Path):
    bad = tmp_path / "Jenkinsfile"
    bad.write_text("node { sh 'make' \n")
    result = cli("jenkins", "lint", str(bad))
    assert result.code == 3
    assert 'Missing required section "agent"' in result.err
