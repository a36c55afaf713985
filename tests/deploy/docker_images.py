"""Model images for the docker-target tests, built from the cached base image and pushed to
the local registry, so deploys pull and pin them by digest exactly as in a pipeline.

The images carry this checkout's ``lepton_ci`` on PYTHONPATH (the base image holds torch and
the serve dependencies) and run ``lepton-ci serve`` as the real image does.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.deploy.models import write_model

REPO_ROOT = Path(__file__).resolve().parents[2]
REPOSITORY = "lepton-deploy-test"

SERVE = """\
FROM {base}
COPY lepton_ci /opt/lepton/src/lepton_ci
COPY model /app/model
ENV PYTHONPATH=/opt/lepton/src LEPTON_SERVE_HOST=0.0.0.0 LEPTON_SERVE_PORT=8080
USER 10001:10001
ENTRYPOINT ["python3", "-m", "lepton_ci", "serve", "--model-dir", "/app/model"]
"""
# /readyz (and everything else) answers 503 forever: the process runs, it is never ready
NEVER_READY = """\
FROM {base}
COPY never_ready.py /opt/never_ready.py
USER 10001:10001
ENTRYPOINT ["python3", "/opt/never_ready.py"]
"""
NEVER_READY_PY = """\
import http.server, os

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(503)
        self.end_headers()

    do_POST = do_GET

address = (os.environ["LEPTON_SERVE_HOST"], int(os.environ["LEPTON_SERVE_PORT"]))
http.server.HTTPServer(address, Handler).serve_forever()
"""


@dataclass(frozen=True)
class PushedImage:
    tag: str  # repo:tag
    digest: str  # sha256:… from the registry


def build_and_push(
    client: Any,
    workdir: Path,
    tag: str,
    *,
    base: str,
    registry: str,
    seed: int | None,
    tamper: bool = False,
) -> PushedImage:
    """``seed``: a serving image with that model; ``None``: the never-ready image."""
    context = workdir / f"ctx-{tag}"
    shutil.rmtree(context, ignore_errors=True)
    shutil.copytree(
        REPO_ROOT / "lepton_ci", context / "lepton_ci", ignore=shutil.ignore_patterns("__pycache__")
    )
    template = NEVER_READY if seed is None else SERVE
    if seed is None:
        (context / "never_ready.py").write_text(NEVER_READY_PY)
    if seed is not None:
        model = write_model(context / "model", seed)
        if tamper:
            data = bytearray((model / "model.pt").read_bytes())
            data[len(data) // 2] ^= 0xFF
            (model / "model.pt").write_bytes(bytes(data))
    (context / "Dockerfile").write_text(template.format(base=base))
    repository = f"{registry}/{REPOSITORY}"
    ref = f"{repository}:{tag}"
    client.images.build(path=str(context), tag=ref, rm=True, network_mode="host", pull=False)
    for line in client.images.push(repository, tag=tag, stream=True, decode=True):
        if "error" in line:
            raise RuntimeError(f"push of {ref} failed: {line['error']}")
    digest = next(
        d for d in client.images.get(ref).attrs["RepoDigests"] if d.startswith(repository + "@")
    ).split("@", 1)[1]
    return PushedImage(ref, digest)
