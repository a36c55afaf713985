"""A Jenkins controller as its REST API behaves: basic auth with API tokens, CSRF crumbs, jobs
in folders, config.xml, the build queue, progressive console text, test reports, the linter."""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from tests.adapters.fakes.base import FakeServer, Reply, Request

CRUMB = "f00dcafe"
_JOB_PATH = re.compile(r"^((?:/job/[^/]+)+)(/.*)?$")


@dataclass
class Script:
    """What the next build does: console chunks (one per poll), result, test report."""

    chunks: list[str] = field(default_factory=lambda: ["Started\n", "[train] ok\n", "Finished\n"])
    result: str = "SUCCESS"
    report: dict[str, Any] | None = None


@dataclass
class Build:
    number: int
    params: dict[str, str]
    script: Script
    emitted: int = 0  # chunks made visible so far

    @property
    def text(self) -> str:
        return "".join(self.script.chunks[: self.emitted])

    @property
    def done(self) -> bool:
        return self.emitted >= len(self.script.chunks)


@dataclass
class Job:
    config: str
    builds: dict[int, Build] = field(default_factory=dict)
    next_number: int = 1


class FakeJenkins(FakeServer):
    def __init__(self, user: str, token: str) -> None:
        super().__init__()
        self.user, self.token = user, token
        self.jobs: dict[str, Job] = {}
        self.folders: set[str] = set()
        self.queue: dict[int, dict[str, Any]] = {}
        self.next_queue = 17
        self.script = Script()
        self.read_only = False  # the user lacks Job/Configure, Job/Create and Job/Build

    # -- helpers for tests -----------------------------------------------------------------

    def job_writes(self) -> list[Request]:
        return [r for r in self.writes() if r.path.endswith(("config.xml", "createItem"))]

    # -- the API ---------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        expected = "Basic " + base64.b64encode(f"{self.user}:{self.token}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return Reply(
                401,
                "<html><body><h2>HTTP ERROR 401 Unauthorized</h2>"
                "<p>Invalid password/token for user</p></body></html>",
                {"Content-Type": "text/html", "WWW-Authenticate": 'Basic realm="Jenkins"'},
            )
        if request.path == "/crumbIssuer/api/json":
            return Reply(
                200,
                {
                    "_class": "hudson.security.csrf.DefaultCrumbIssuer",
                    "crumb": CRUMB,
                    "crumbRequestField": "Jenkins-Crumb",
                },
            )
        if request.method == "POST" and request.headers.get("jenkins-crumb") != CRUMB:
            return Reply(
                403,
                "<html><body><h2>HTTP ERROR 403 No valid crumb was included in the "
                "request</h2></body></html>",
                {"Content-Type": "text/html"},
            )
        if request.path == "/pipeline-model-converter/validate" and request.method == "POST":
            return self._validate(request)
        if request.path.startswith("/queue/item/"):
            return self._queue_item(int(request.path.split("/")[3]))
        if request.path.endswith("/createItem"):
            return self._create(request)
        match = _JOB_PATH.match(request.path)
        if not match:
            return Reply(404, "<html><body>Not Found</body></html>", {"Content-Type": "text/html"})
        name = "/".join(re.findall(r"/job/([^/]+)", match.group(1)))
        rest = match.group(2) or "/"
        job = self.jobs.get(name)
        if job is None:
            if name in self.folders and rest.startswith("/api/json"):
                return Reply(200, {"_class": "com.cloudbees.hudson.plugins.folder.Folder"})
            return Reply(
                404,
                "<html><body><h2>HTTP ERROR 404 Not Found</h2></body></html>",
                {"Content-Type": "text/html"},
            )
        if rest == "/config.xml":
            if request.method == "GET":
                return Reply(200, job.config, {"Content-Type": "application/xml"})
            if self.read_only:
                return self._denied("Job/Configure")
            ET.fromstring(request.body)  # Jenkins rejects malformed XML with a 500
            job.config = request.body.decode()
            return Reply(200)
        if rest.startswith("/api/json"):
            return Reply(
                200,
                {
                    "_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob",
                    "name": name.rsplit("/", 1)[-1],
                    "fullName": name,
                    "property": self._properties(job),
                },
            )
        if rest in ("/build", "/buildWithParameters") and request.method == "POST":
            return self._build(request, name, job, rest == "/buildWithParameters")
        found = re.match(r"^/(\d+)(/.*)$", rest)
        if found and int(found.group(1)) in job.builds:
            return self._build_api(job.builds[int(found.group(1))], found.group(2), request)
        return Reply(404, "<html><body>Not Found</body></html>", {"Content-Type": "text/html"})

    def _denied(self, permission: str) -> Reply:
        return Reply(
            403,
            f"<html><body><h2>HTTP ERROR 403</h2><p>{self.user} is missing the "
            f"{permission} permission</p></body></html>",
            {"Content-Type": "text/html"},
        )

    def _create(self, request: Request) -> Reply:
        folder = "/".join(re.findall(r"/job/([^/]+)", request.path))
        if folder and folder not in self.folders:
            return Reply(404, "Not Found")
        if self.read_only:
            return self._denied("Job/Create")
        name = (folder + "/" if folder else "") + request.query["name"][0]
        if name in self.jobs:
            return Reply(400, f"A job already exists with the name '{name}'")
        ET.fromstring(request.body)
        self.jobs[name] = Job(config=request.body.decode())
        return Reply(200)

    def _properties(self, job: Job) -> list[dict[str, Any]]:
        root = ET.fromstring(job.config)
        defs = root.findall(
            "properties/hudson.model.ParametersDefinitionProperty/parameterDefinitions/*"
        )
        if not defs:
            return []
        return [
            {
                "_class": "hudson.model.ParametersDefinitionProperty",
                "parameterDefinitions": [
                    {
                        "name": d.findtext("name"),
                        "defaultParameterValue": {"value": d.findtext("defaultValue")},
                    }
                    for d in defs
                ],
            }
        ]

    def _build(self, request: Request, name: str, job: Job, with_params: bool) -> Reply:
        if self.read_only:
            return self._denied("Job/Build")
        parameterized = bool(self._properties(job))
        if with_params and not parameterized:
            return Reply(500, "java.lang.IllegalStateException: This build is not parameterized!")
        if not with_params and parameterized:
            return Reply(
                400,
                "<html><body>This page expects a form submission</body></html>",
                {"Content-Type": "text/html"},
            )
        params = {k: v[-1] for k, v in request.form().items()} if request.body else {}
        params.update({k: v[-1] for k, v in request.query.items()})
        qid = self.next_queue
        self.next_queue += 1
        self.queue[qid] = {"job": name, "params": params, "polls": 0}
        return Reply(201, b"", {"Location": f"{self.url}/queue/item/{qid}/"})

    def _queue_item(self, qid: int) -> Reply:
        item = self.queue.get(qid)
        if item is None:
            return Reply(404, "Not Found")
        item["polls"] += 1
        body: dict[str, Any] = {
            "_class": "hudson.model.Queue$WaitingItem",
            "id": qid,
            "cancelled": False,
        }
        if item["polls"] == 1:
            body["why"] = "Waiting for next available executor"
            return Reply(200, body)
        if "number" not in item:
            job = self.jobs[item["job"]]
            number = job.next_number
            job.next_number += 1
            job.builds[number] = Build(number, item["params"], self.script)
            item["number"] = number
        body["_class"] = "hudson.model.Queue$LeftItem"
        body["executable"] = {
            "number": item["number"],
            "url": f"{self.url}/job/x/{item['number']}/",
        }
        return Reply(200, body)

    def _build_api(self, build: Build, rest: str, request: Request) -> Reply:
        if rest == "/logText/progressiveText":
            start = int(request.query.get("start", ["0"])[0])
            if not build.done:
                build.emitted += 1
            text = build.text.encode()
            headers = {"X-Text-Size": str(len(text))}
            if not build.done:
                headers["X-More-Data"] = "true"
            return Reply(200, text[start:], headers)
        if rest.startswith("/api/json"):
            return Reply(
                200,
                {
                    "number": build.number,
                    "building": not build.done,
                    "result": build.script.result if build.done else None,
                    "actions": [
                        {"parameters": [{"name": k, "value": v} for k, v in build.params.items()]}
                    ],
                },
            )
        if rest.startswith("/testReport/api/json"):
            if build.script.report is None:
                return Reply(404, "Not Found")
            return Reply(200, build.script.report)
        return Reply(404, "Not Found")

    def _validate(self, request: Request) -> Reply:
        text = request.form().get("jenkinsfile", [""])[0]
        if text.strip().startswith("pipeline") and text.count("{") == text.count("}"):
            return Reply(200, "Jenkinsfile successfully validated.\n")
        return Reply(
            200,
            "Errors encountered validating Jenkinsfile:\n"
            'WorkflowScript: 1: Missing required section "agent" @ line 1, column 1.\n',
        )
