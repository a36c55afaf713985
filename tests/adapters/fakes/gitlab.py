"""GitLab's REST API v4 as documented: token headers, JSON errors ``{"message": ...}``,
offset pagination (``X-Next-Page``, ``Link``), CI lint, pipelines, schedules, MR notes, Markdown
uploads, users and groups lookups, protected environments with approval rules."""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import itertools
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlencode

from ruamel.yaml import YAML, YAMLError

from tests.adapters.fakes.base import FakeServer, Reply, Request

PROJECT = {"id": 42, "path_with_namespace": "ml/digits", "default_branch": "main"}


@dataclass
class PipelinePlan:
    """The jobs the next pipeline runs and how each ends (one state change per poll)."""

    jobs: list[tuple[str, str, str]] = field(
        default_factory=lambda: [("train", "train", "success"), ("evaluate", "evaluate", "success")]
    )


class FakeGitLab(FakeServer):
    def __init__(self, token: str, job_token: str) -> None:
        super().__init__()
        self.token, self.job_token = token, job_token
        self.ids = itertools.count(1000)
        self.pipelines: dict[int, dict[str, Any]] = {}
        self.jobs: dict[int, list[dict[str, Any]]] = {}
        self.polls: dict[int, int] = {}
        self.schedules: dict[int, dict[str, Any]] = {}
        self.notes: dict[int, list[dict[str, Any]]] = {7: []}  # MR iid -> notes
        self.plan = PipelinePlan()
        self.read_only = False  # the token has read_api only
        self.users = {"alice": 7, "bob": 8}  # username -> id (project members)
        self.groups = {"ml/leads": 134, "ml-ops": 135}  # full path -> id (project shared)
        self.protected: dict[str, dict[str, Any]] = {}  # environment name -> as the API shows it
        self.uploads: dict[str, bytes] = {}  # url -> the file's bytes
        # "premium"; "free": EE without a licence (403); "ce": Community Edition, no such API (404)
        self.tier = "premium"

    def handle(self, request: Request) -> Reply:
        if not request.path.startswith("/api/v4/"):
            return Reply(404, {"message": "404 Not Found"})
        via_job_token = request.headers.get("job-token") == self.job_token
        authenticated = request.headers.get("private-token") == self.token or via_job_token
        if not authenticated and not request.path.endswith("/trigger/pipeline"):
            return Reply(401, {"message": "401 Unauthorized"})
        parts = request.path[len("/api/v4/") :].split("/")
        if parts == ["users"] and request.method == "GET":
            return self._users(request)
        if parts[0] == "groups" and len(parts) == 2 and request.method == "GET":
            path = unquote(parts[1])
            if path not in self.groups:
                return Reply(404, {"message": "404 Group Not Found"})
            return Reply(200, {"id": self.groups[path], "full_path": path})
        if parts[0] != "projects" or len(parts) < 2:
            return Reply(404, {"message": "404 Not Found"})
        if unquote(parts[1]) not in ("42", "ml/digits"):
            return Reply(404, {"message": "404 Project Not Found"})
        rest = parts[2:]
        if via_job_token and rest[:1] != ["trigger"]:
            return Reply(403, {"message": "403 Forbidden"})
        if self.read_only and request.method != "GET" and rest != ["ci", "lint"]:
            return Reply(403, {"message": "403 Forbidden - insufficient_scope"})
        return self._route(request, rest)

    def _route(self, request: Request, rest: list[str]) -> Reply:
        method = request.method
        if rest == []:
            return Reply(200, PROJECT)
        if rest == ["ci", "lint"] and method == "POST":
            return self._lint(request.json())
        if rest == ["pipeline"] and method == "POST":  # create is singular
            body = request.json()
            return self._new_pipeline(
                body["ref"], {v["key"]: v["value"] for v in body.get("variables", [])}, "api"
            )
        if rest == ["trigger", "pipeline"] and method == "POST":
            if request.headers.get("content-type", "").startswith("application/json"):
                body = request.json()
                token, ref, variables = body.get("token"), body["ref"], body.get("variables", {})
            else:  # form encoding: token=…&ref=…&variables[KEY]=value
                form = request.form()
                token, ref = form.get("token", [""])[0], form["ref"][0]
                variables = {
                    k[len("variables[") : -1]: v[0]
                    for k, v in form.items()
                    if k.startswith("variables[")
                }
            if token != self.job_token:
                return Reply(404, {"message": "404 Not Found"})
            return self._new_pipeline(ref, variables, "pipeline")
        if rest[:1] == ["pipelines"] and len(rest) >= 2:
            pid = int(rest[1])
            if pid not in self.pipelines:
                return Reply(404, {"message": "404 Not found"})
            if len(rest) == 2:
                self._advance(pid)
                return Reply(200, self.pipelines[pid])
            if rest[2:] == ["jobs"]:
                return self._page(request, self.jobs[pid])
        if rest == ["pipeline_schedules"]:
            if method == "GET":
                return self._page(request, list(self.schedules.values()))
            body = request.json()
            sid = next(self.ids)
            self.schedules[sid] = {"id": sid, "active": True, **body}
            return Reply(201, self.schedules[sid])
        if rest[:1] == ["pipeline_schedules"] and len(rest) == 2 and method == "PUT":
            schedule = self.schedules[int(rest[1])]
            schedule.update(request.json())
            return Reply(200, schedule)
        if rest[:1] == ["protected_environments"]:
            return self._protected_environments(request, rest[1:])
        if rest == ["uploads"] and method == "POST":
            return self._upload(request)
        if rest[:1] == ["merge_requests"] and len(rest) >= 3 and rest[2] == "notes":
            iid = int(rest[1])
            if iid not in self.notes:
                return Reply(404, {"message": "404 Not found"})
            notes = self.notes[iid]
            if len(rest) == 3 and method == "GET":
                return self._page(request, notes)
            if len(rest) == 3 and method == "POST":
                note = {
                    "id": next(self.ids),
                    "body": request.json()["body"],
                    "system": False,
                    "author": {"username": "project_42_bot"},
                }
                notes.append(note)
                return Reply(201, note)
            if len(rest) == 4 and method == "PUT":
                for note in notes:
                    if note["id"] == int(rest[3]):
                        note["body"] = request.json()["body"]
                        return Reply(200, note)
                return Reply(404, {"message": "404 Note Not Found"})
        return Reply(404, {"message": "404 Not Found"})

    # Markdown uploads, as https://docs.gitlab.com/api/project_markdown_uploads/#upload-a-file
    # describes them: POST /projects/:id/uploads, multipart/form-data with a `file` part; 201 with
    # {"id", "alt", "url", "full_path", "markdown"}, `url` = /uploads/<32 hex secret>/<name>,
    # `alt` the name without its extension, `markdown` an image reference for images and a link
    # otherwise. Without a `file` part GitLab's API (Grape) answers 400 "file is missing".
    def _upload(self, request: Request) -> Reply:
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            return Reply(400, {"error": "file is missing"})
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + request.body
        )
        part = next(
            (
                p
                for p in message.iter_parts()
                if p.get_param("name", header="content-disposition") == "file" and p.get_filename()
            ),
            None,
        )
        if part is None:
            return Reply(400, {"error": "file is missing"})
        name = str(part.get_filename())
        data = part.get_payload(decode=True) or b""
        secret = hashlib.md5(data + str(len(self.uploads)).encode()).hexdigest()
        url = f"/uploads/{secret}/{name}"
        self.uploads[url] = bytes(data)
        alt = name.rsplit(".", 1)[0]
        image = name.lower().endswith((".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"))
        return Reply(
            201,
            {
                "id": next(self.ids),
                "alt": alt,
                "url": url,
                "full_path": f"/-/project/{PROJECT['id']}{url}",
                "markdown": f"{'!' if image else ''}[{alt}]({url})",
            },
        )

    def _users(self, request: Request) -> Reply:
        """GET /users?username=NAME: a list, empty when nobody has that (case-insensitive) name."""
        name = request.query.get("username", [""])[0].lower()
        found = [
            {"id": uid, "username": username, "state": "active"}
            for username, uid in self.users.items()
            if username.lower() == name
        ]
        return self._page(request, found)

    # Protected environments, as doc/api/protected_environments.md (gitlabhq) describes them:
    # POST needs `name` and `deploy_access_levels`; each entry of those and of `approval_rules` is
    # one of {user_id}, {group_id}, {access_level}; PUT entries with an `id` update that record,
    # with `_destroy: true` delete it, without an `id` create one. Premium tier only.
    def _protected_environments(self, request: Request, rest: list[str]) -> Reply:
        if self.tier == "ce":
            return Reply(404, {"message": "404 Not Found"})
        if self.tier == "free":
            return Reply(403, {"message": "403 Forbidden"})
        method = request.method
        if rest == [] and method == "GET":
            return self._page(request, list(self.protected.values()))
        if rest == [] and method == "POST":
            body = request.json()
            if not body.get("name") or not body.get("deploy_access_levels"):
                return Reply(400, {"error": "name, deploy_access_levels are missing"})
            if body["name"] in self.protected:
                return Reply(409, {"message": "Name has already been taken"})
            env = {
                "name": body["name"],
                "deploy_access_levels": [],
                "required_approval_count": 0,
                "approval_rules": [],
            }
            for kind in ("deploy_access_levels", "approval_rules"):
                for entry in body.get(kind) or []:
                    error = self._apply(env[kind], entry, rule=kind == "approval_rules")
                    if error:
                        return error
            self.protected[body["name"]] = env
            return Reply(201, env)
        if len(rest) == 1:
            env = self.protected.get(unquote(rest[0]))
            if env is None:
                return Reply(404, {"message": "404 Not found"})
            if method == "GET":
                return Reply(200, env)
            if method == "PUT":
                body = request.json()
                for kind in ("deploy_access_levels", "approval_rules"):
                    for entry in body.get(kind) or []:
                        error = self._apply(env[kind], entry, rule=kind == "approval_rules")
                        if error:
                            return error
                return Reply(200, env)
        return Reply(404, {"message": "404 Not Found"})

    def _apply(
        self, records: list[dict[str, Any]], entry: dict[str, Any], *, rule: bool
    ) -> Reply | None:
        if "id" in entry:
            match = [r for r in records if r["id"] == entry["id"]]
            if not match:
                return Reply(404, {"message": "404 Not found"})
            if entry.get("_destroy"):
                records.remove(match[0])
            else:
                match[0].update({k: v for k, v in entry.items() if k != "id"})
            return None
        principals = [k for k in ("user_id", "group_id", "access_level") if entry.get(k)]
        if len(principals) != 1:
            return Reply(400, {"message": "Give exactly one of user_id, group_id, access_level"})
        if entry.get("user_id") and entry["user_id"] not in self.users.values():
            return Reply(400, {"message": "User must be a member of the project"})
        record = {
            "id": next(self.ids),
            "user_id": entry.get("user_id"),
            "group_id": entry.get("group_id"),
            "access_level": entry.get("access_level"),
            "access_level_description": self._describe(entry),
            "group_inheritance_type": entry.get("group_inheritance_type", 0),
        }
        if rule:  # approval rules need 1 approval unless told otherwise
            record["required_approvals"] = int(entry.get("required_approvals", 1))
        records.append(record)
        return None

    def _describe(self, entry: dict[str, Any]) -> str:
        if entry.get("user_id"):
            return next(n for n, uid in self.users.items() if uid == entry["user_id"])
        if entry.get("group_id"):
            return next((p for p, gid in self.groups.items() if gid == entry["group_id"]), "?")
        return {30: "Developers + Maintainers", 40: "Maintainers", 60: "Admins"}.get(
            int(entry["access_level"]), "?"
        )

    def _lint(self, body: dict[str, Any]) -> Reply:
        errors: list[str] = []
        includes: list[dict[str, Any]] = []
        try:
            doc = YAML(typ="safe").load(body["content"]) or {}
        except YAMLError as exc:
            doc = {}
            errors.append(f"(<unknown>): {str(exc).splitlines()[0]}")
        if not errors:
            for inc in doc.get("include", []) or []:
                kind = next(iter(inc)) if isinstance(inc, dict) else "local"
                includes.append(
                    {
                        "type": kind,
                        "location": inc[kind] if isinstance(inc, dict) else inc,
                        "blob": None,
                        "raw": None,
                        "extra": {},
                    }
                )
            jobs = [
                k
                for k, v in doc.items()
                if isinstance(v, dict)
                and not k.startswith(".")
                and k not in ("default", "workflow", "variables")
            ]
            if not jobs and not includes:
                errors.append("jobs config should contain at least one visible job")
            for name in jobs:
                if (
                    "script" not in doc[name]
                    and "trigger" not in doc[name]
                    and "extends" not in doc[name]
                ):
                    errors.append(
                        f"jobs:{name} config should implement the script:, run:, or "
                        "trigger: keyword"
                    )
        return Reply(
            200,
            {
                "valid": not errors,
                "errors": errors,
                "warnings": [],
                "merged_yaml": body["content"] if not errors else None,
                "includes": includes,
            },
        )

    def _new_pipeline(self, ref: str, variables: dict[str, str], source: str) -> Reply:
        pid = next(self.ids)
        self.pipelines[pid] = {
            "id": pid,
            "iid": pid - 999,
            "project_id": 42,
            "ref": ref,
            "status": "created",
            "source": source,
            "variables": variables,
            "web_url": f"{self.url}/ml/digits/-/pipelines/{pid}",
        }
        self.jobs[pid] = [
            {
                "id": next(self.ids),
                "name": name,
                "stage": stage,
                "status": "created",
                "final": final,
                "allow_failure": False,
                "web_url": f"{self.url}/ml/digits/-/jobs/{pid}",
            }
            for name, stage, final in self.plan.jobs
        ]
        self.polls[pid] = 0
        return Reply(201, self.pipelines[pid])

    def _advance(self, pid: int) -> None:
        """Each poll, the first unfinished job moves on: created -> running -> its end state."""
        for job in self.jobs[pid]:
            if job["status"] == "created":
                job["status"] = "running"
                self.pipelines[pid]["status"] = "running"
                return
            if job["status"] == "running":
                job["status"] = job["final"]
                if job["final"] == "failed":
                    job["failure_reason"] = "script_failure"
                    self.pipelines[pid]["status"] = "failed"
                    return
                if job["final"] == "manual":
                    self.pipelines[pid]["status"] = "manual"
                    return
                break
        if all(j["status"] == "success" for j in self.jobs[pid]):
            self.pipelines[pid]["status"] = "success"

    def _page(self, request: Request, items: list[dict[str, Any]]) -> Reply:
        page = int(request.query.get("page", ["1"])[0])
        per_page = min(int(request.query.get("per_page", ["20"])[0]), 100)
        per_page = min(per_page, self.max_per_page)
        total_pages = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {
            "X-Page": str(page),
            "X-Per-Page": str(per_page),
            "X-Total": str(len(items)),
            "X-Total-Pages": str(total_pages),
            "X-Next-Page": "",
            "X-Prev-Page": "",
        }
        if page < total_pages:
            query = {k: v[-1] for k, v in request.query.items()}
            query.update(page=str(page + 1), per_page=str(per_page))
            headers["X-Next-Page"] = str(page + 1)
            headers["Link"] = f'<{self.url}{request.path}?{urlencode(query)}>; rel="next"'
        return Reply(200, chunk, headers)

    max_per_page = 2  # small pages, so every list in the tests crosses a page boundary
