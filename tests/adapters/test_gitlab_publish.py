"""`lepton-ci report --publish` on GitLab: plots uploaded, one merge-request note updated in
place, and no note (exit 0, one line why) without a token, outside a merge request or on error."""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import pytest
import requests

from lepton_ci.adapters.publish import publish_report
from tests.adapters.conftest import CANARIES
from tests.adapters.fakes.base import Reply
from tests.adapters.fakes.gitlab import FakeGitLab
from tests.adapters.test_gitlab import write_metrics


def png(seed: int) -> bytes:
    """A real 1x1 grey PNG whose pixel is ``seed`` (so two plots differ byte for byte)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data).to_bytes(4, "big")
        return len(data).to_bytes(4, "big") + kind + data + crc

    header = (1).to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])  # 1x1, 8-bit greyscale
    pixels = zlib.compress(bytes([0, seed % 256]))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def write_report_dir(repo: Path, plots: dict[str, bytes]) -> Path:
    """``.lepton/run/report/index.html`` with ``plots/*.png`` beside it, as lepton_ci.report
    writes them."""
    report = repo / ".lepton/run/report/index.html"
    (report.parent / "plots").mkdir(parents=True, exist_ok=True)
    report.write_text("<!doctype html><title>report</title>")
    for old in (report.parent / "plots").glob("*.png"):
        old.unlink()
    for name, data in plots.items():
        (report.parent / "plots" / name).write_bytes(data)
    return report


@pytest.fixture
def mr_pipeline(monkeypatch: pytest.MonkeyPatch, gitlab: FakeGitLab, repo: Path) -> Path:
    """The variables GitLab gives a merge-request pipeline job, GITLAB_TOKEN as a CI variable."""
    monkeypatch.delenv("GITLAB_URL")
    monkeypatch.setenv("CI_SERVER_URL", gitlab.url)
    monkeypatch.setenv("GITLAB_CI", "true")
    monkeypatch.setenv("CI_PROJECT_ID", "42")
    monkeypatch.setenv("CI_MERGE_REQUEST_IID", "7")
    monkeypatch.setenv("CI_COMMIT_SHORT_SHA", "abc1234")
    monkeypatch.setenv("CI_JOB_URL", f"{gitlab.url}/ml/digits/-/jobs/555")
    monkeypatch.setenv("CI_PROJECT_DIR", str(repo))
    monkeypatch.setenv("CI_JOB_TOKEN", CANARIES["CI_JOB_TOKEN"])
    write_metrics(repo, accuracy=0.95)
    return repo


def our_notes(gitlab: FakeGitLab) -> list[dict[str, object]]:
    return [n for n in gitlab.notes[7] if "lepton-ci:report" in str(n["body"])]


# -- the fake's uploads endpoint, as GitLab documents it -----------------------------------


def test_the_fakes_uploads_endpoint_answers_as_documented(gitlab: FakeGitLab):
    url = f"{gitlab.url}/api/v4/projects/42/uploads"
    token = {"PRIVATE-TOKEN": CANARIES["GITLAB_TOKEN"]}
    answer = requests.post(url, headers=token, files={"file": ("dk.png", png(1))}, timeout=5)
    assert answer.status_code == 201
    data = answer.json()
    assert set(data) == {"id", "alt", "url", "full_path", "markdown"}
    assert re.fullmatch(r"/uploads/[0-9a-f]{32}/dk\.png", data["url"])
    assert data["alt"] == "dk" and data["full_path"] == f"/-/project/42{data['url']}"
    assert data["markdown"] == f"![dk]({data['url']})"
    assert gitlab.uploads[data["url"]] == png(1)
    text = requests.post(url, headers=token, files={"file": ("log.txt", b"x")}, timeout=5)
    assert text.json()["markdown"].startswith("[log]")  # a link, not an image
    missing = requests.post(url, headers=token, files={"other": ("dk.png", b"x")}, timeout=5)
    assert missing.status_code == 400 and missing.json() == {"error": "file is missing"}
    assert requests.post(url, files={"file": ("dk.png", b"x")}, timeout=5).status_code == 401
    job = {"JOB-TOKEN": CANARIES["CI_JOB_TOKEN"]}
    assert (
        requests.post(url, headers=job, files={"file": ("a.png", b"x")}, timeout=5).status_code
        == 403
    )


def test_upload_by_project_path_is_encoded_once(gitlab: FakeGitLab):
    from lepton_ci.adapters.gitlab import GitLabServer

    server = GitLabServer(gitlab.url, private_token=CANARIES["GITLAB_TOKEN"])
    answer = server.upload("ml/digits", "curve.png", png(2))
    assert answer["markdown"].startswith("![curve](/uploads/")
    (post,) = gitlab.seen("POST", r"/uploads$")
    assert post.path == "/api/v4/projects/ml%2Fdigits/uploads"


# -- publishing on a merge request -----------------------------------------------------------


def test_plots_are_uploaded_then_embedded_in_the_note(gitlab: FakeGitLab, mr_pipeline: Path):
    report = write_report_dir(mr_pipeline, {"b-residuals.png": png(2), "a-confusion.png": png(1)})
    result = publish_report(report, mr_pipeline / ".lepton/run")
    assert not result.warning, result.message
    posts = gitlab.seen("POST", r"/uploads$")
    assert len(posts) == 2
    uploaded = list(gitlab.uploads)
    assert [u.rsplit("/", 1)[1] for u in uploaded] == ["a-confusion.png", "b-residuals.png"]
    assert [gitlab.uploads[u] for u in uploaded] == [png(1), png(2)]
    (note,) = our_notes(gitlab)
    body = str(note["body"])
    plots = body.index("#### Plots")
    first, second = (
        body.index(f"![{n}]({u})")
        for n, u in zip(("a-confusion", "b-residuals"), uploaded, strict=True)
    )
    assert plots < first < second < body.index("Posted by lepton-ci")  # the footer stays last
    assert "| accuracy | 0.9500 |" in body  # the metrics and gates are still there
    link = f"{gitlab.url}/ml/digits/-/jobs/555/artifacts/file/.lepton/run/report/index.html"
    assert f"[Full HTML report]({link})" in body
    assert result.note_id == note["id"] and "note" in result.message and "created" in result.message
    # the uploads came before the note that references them
    assert gitlab.requests.index(posts[-1]) < gitlab.requests.index(
        gitlab.seen("POST", r"/notes$")[0]
    )


def test_a_second_push_updates_the_same_note_with_the_new_uploads(
    gitlab: FakeGitLab, mr_pipeline: Path
):
    gitlab.notes[7] += [{"id": n, "body": f"review {n}", "system": False} for n in range(3)]
    report = write_report_dir(mr_pipeline, {"confusion.png": png(1)})
    first = publish_report(report, mr_pipeline / ".lepton/run")
    (first_url,) = gitlab.uploads
    write_metrics(mr_pipeline, accuracy=0.85, passed=False)
    report = write_report_dir(mr_pipeline, {"confusion.png": png(3)})
    second = publish_report(report, mr_pipeline / ".lepton/run")
    assert "updated" in second.message and second.note_id == first.note_id
    (note,) = our_notes(gitlab)
    second_url = next(u for u in gitlab.uploads if u != first_url)
    assert second_url in str(note["body"]) and first_url not in str(note["body"])
    assert "| accuracy | 0.8500 |" in str(note["body"])
    assert len(gitlab.seen("POST", r"/notes$")) == 1 and len(gitlab.seen("PUT", r"/notes/")) == 1


def test_report_publish_posts_the_note_from_the_cli(cli, gitlab: FakeGitLab, mr_pipeline: Path):  # type: ignore[no-untyped-def]
    plots_dir = mr_pipeline / ".lepton/run/report/plots"
    plots_dir.mkdir(parents=True)
    (plots_dir / "confusion.png").write_bytes(png(1))
    result = cli("report", "--publish")
    assert result.code == 0, result.output
    assert "report: .lepton/run/report/index.html" in result.out
    (note,) = our_notes(gitlab)
    assert f"merge request !7: note {note['id']} created" in result.out
    expected = sorted(p.name for p in plots_dir.glob("*.png"))  # what the report left there
    assert [u.rsplit("/", 1)[1] for u in gitlab.uploads] == expected
    assert all(u in str(note["body"]) for u in gitlab.uploads)
    assert gitlab.seen("POST", r"/notes$")[0].headers["private-token"] == CANARIES["GITLAB_TOKEN"]


# -- no note, and the job still succeeds -----------------------------------------------------


def test_without_gitlab_token_there_is_no_note_and_exit_0(
    cli,
    gitlab: FakeGitLab,
    mr_pipeline: Path,
    monkeypatch,  # type: ignore[no-untyped-def]
):
    monkeypatch.delenv("GITLAB_TOKEN")  # CI_JOB_TOKEN stays: it cannot write notes
    result = cli("report", "--publish")
    assert result.code == 0, result.output
    assert "no merge-request note: GITLAB_TOKEN is not set" in result.out
    assert "CI_JOB_TOKEN cannot write notes" in result.out
    assert gitlab.requests == []  # the job token was not even tried


def test_outside_a_merge_request_there_is_no_note_and_exit_0(
    cli,
    gitlab: FakeGitLab,
    mr_pipeline: Path,
    monkeypatch,  # type: ignore[no-untyped-def]
):
    monkeypatch.delenv("CI_MERGE_REQUEST_IID")
    result = cli("report", "--publish")
    assert result.code == 0, result.output
    assert "no merge-request note: not a merge-request pipeline" in result.out
    assert "CI_MERGE_REQUEST_IID is not set" in result.out
    assert gitlab.requests == []


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("POST", r"/uploads$", 403), ("POST", r"/notes$", 500), ("GET", r"/notes$", 401)],
    ids=["upload-refused", "note-failed", "token-rejected"],
)
def test_a_gitlab_error_warns_and_exits_0_without_the_token(  # type: ignore[no-untyped-def]
    cli, gitlab: FakeGitLab, mr_pipeline: Path, method, path, status
):
    write_report_dir(mr_pipeline, {"confusion.png": png(1)})
    echo = f"refused PRIVATE-TOKEN: {CANARIES['GITLAB_TOKEN']} {CANARIES['GITLAB_TOKEN']}"
    gitlab.fail(method, path, Reply(status, {"message": echo}), times=99)
    for args in (("report", "--publish"), ("--verbose", "report", "--publish")):
        result = cli(*args)
        assert result.code == 0, result.output
        (warning,) = [line for line in result.err.splitlines() if line.startswith("warning:")]
        assert "no merge-request note" in warning and f"HTTP {status}" in warning
        assert CANARIES["GITLAB_TOKEN"] not in result.output
        assert "Traceback" not in result.output
    assert our_notes(gitlab) == []


def test_outside_gitlab_it_only_says_where_the_report_is(
    cli,
    gitlab: FakeGitLab,
    mr_pipeline: Path,
    monkeypatch,  # type: ignore[no-untyped-def]
):
    monkeypatch.delenv("GITLAB_CI")  # Jenkins or a laptop: publishHTML does the rest there
    result = cli("report", "--publish")
    assert result.code == 0, result.output
    assert "not a GitLab CI job" in result.out
    assert gitlab.requests == []


def test_odd_upload_markdown_is_rebuilt_from_the_url():
    from lepton_ci.platforms.gitlab_report import upload_markdown

    assert upload_markdown({"markdown": "![a](/uploads/0f/a.png)"}) == "![a](/uploads/0f/a.png)"
    odd = {"markdown": "![x](javascript:alert(1))", "alt": "a_b", "url": "/uploads/0f/a.png"}
    assert upload_markdown(odd) == "![a\\_b](/uploads/0f/a.png)"
