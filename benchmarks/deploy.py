"""Deploy benchmark: time from deploy start to ready, and failed requests during a deploy.

For each target (local, docker) it deploys version 1, then deploys version 2 while a thread
sends steady /predict traffic through the front, and reports:

- ready: deploy start -> new version ready and smoke-tested (``seconds_to_ready``);
- total: deploy start -> traffic switched and the old version drained and retired;
- baseline: a bare ``lepton-ci serve`` of the same model (process, or ``docker run``) from
  start to its first 200 on /readyz, measured in the same run; ratio = ready / baseline;
- failed requests out of all requests sent during the deploy (goal: 0).

Run: ``.venv/bin/python benchmarks/deploy.py [--targets local,docker]`` (docker needs
``.ci/services``: engine, local registry, base image).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lepton_ci.deploy.core import deploy  # noqa: E402
from lepton_ci.deploy.probe import get  # noqa: E402
from lepton_ci.deploy.release import free_port  # noqa: E402
from lepton_ci.registry import open_registry  # noqa: E402
from lepton_ci.runtime.manifest import read_manifest  # noqa: E402
from lepton_ci.spec.loader import parse_spec  # noqa: E402
from tests.deploy.conftest import SPEC, Project  # noqa: E402
from tests.deploy.load import Load  # noqa: E402
from tests.deploy.models import write_model  # noqa: E402


def wait_200(url: str, timeout: float = 120.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if get(url)[0] == 200:
                return time.monotonic() - start
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{url} never ready")


def project(workdir: Path, target: str) -> Project:
    port = free_port()
    text = SPEC.format(
        port=port, envs=f"    - name: bench\n      target: {target}\n      port: {port}\n"
    )
    (workdir / "lepton.yaml").write_text(text)
    spec = parse_spec(text, workdir / "lepton.yaml")
    return Project(workdir, spec, open_registry(spec, workdir))


def bench_local(workdir: Path) -> dict[str, float]:
    from lepton_ci.deploy.local import LocalRuntime

    p = project(workdir, "local")
    model = write_model(p.run_dir / "train", seed=1)
    p.register(read_manifest(model))
    port = free_port()  # baseline: the bare server
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lepton_ci",
            "serve",
            "--model-dir",
            str(model),
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    baseline = wait_200(f"http://127.0.0.1:{port}/readyz")
    proc.terminate()
    proc.wait(30)
    try:
        url = deploy(p.spec, "bench", run_dir=p.run_dir, root=p.root).url
        model = write_model(p.run_dir / "train", seed=2)
        p.register(read_manifest(model))
        return measure(p, url, baseline)
    finally:
        env = p.spec.deploy.environments[0]
        assert env.port is not None
        LocalRuntime(p.root, "bench", "127.0.0.1", env.port).shutdown()


def bench_docker(workdir: Path) -> dict[str, float]:
    import docker

    from lepton_ci.deploy.docker_target import DockerRuntime
    from tests.deploy.docker_images import build_and_push

    services = subprocess.run(
        ["bash", str(ROOT / ".ci" / "services")], capture_output=True, text=True, check=True
    ).stdout
    env = dict(line.split("=", 1) for line in services.splitlines() if "=" in line)
    client = docker.DockerClient(base_url=env["DOCKER_HOST"])
    where = {"base": env["LEPTON_BASE_IMAGE"], "registry": env["LEPTON_LOCAL_REGISTRY"]}
    v1 = build_and_push(client, workdir, "bench-v1", seed=11, **where)
    v2 = build_and_push(client, workdir, "bench-v2", seed=12, **where)
    p = project(workdir, "docker")
    port = free_port()
    container = client.containers.run(
        v2.tag,
        network_mode="host",
        detach=True,
        environment={"LEPTON_SERVE_HOST": "127.0.0.1", "LEPTON_SERVE_PORT": str(port)},
    )
    try:
        baseline = wait_200(f"http://127.0.0.1:{port}/readyz")
    finally:
        container.remove(force=True)
    port = p.spec.deploy.environments[0].port
    assert port is not None
    try:
        version = p.register()
        p.set_image(version, v1.tag, v1.digest)
        url = deploy(p.spec, "bench", run_dir=p.run_dir, root=p.root).url
        version = p.register()
        p.set_image(version, v2.tag, v2.digest)
        return measure(p, url, baseline)
    finally:
        DockerRuntime(p.spec.model_name, "bench", "127.0.0.1", port, client=client).shutdown()


def measure(p: Project, url: str, baseline: float) -> dict[str, float]:
    with Load(url, limit=100_000) as load:
        time.sleep(0.5)
        outcome = deploy(p.spec, "bench", run_dir=p.run_dir, root=p.root)
        time.sleep(0.5)
    assert outcome.seconds_to_ready is not None and outcome.seconds_total is not None
    return {
        "ready_s": outcome.seconds_to_ready,
        "total_s": outcome.seconds_total,
        "baseline_s": baseline,
        "ratio": outcome.seconds_to_ready / baseline,
        "requests": load.ok + len(load.failures),
        "failed": len(load.failures),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="local,docker")
    args = parser.parse_args()
    rows = {}
    for target in args.targets.split(","):
        with tempfile.TemporaryDirectory(prefix=f"lepton-bench-{target}-") as tmp:
            rows[target] = {"local": bench_local, "docker": bench_docker}[target](Path(tmp))
    print(
        f"{'target':8} {'ready s':>8} {'total s':>8} {'bare serve s':>13} {'ready/bare':>11} "
        f"{'requests':>9} {'failed':>7}"
    )
    for target, r in rows.items():
        print(
            f"{target:8} {r['ready_s']:8.2f} {r['total_s']:8.2f} {r['baseline_s']:13.2f} "
            f"{r['ratio']:10.2f}x {int(r['requests']):9d} {int(r['failed']):7d}"
        )


if __name__ == "__main__":
    main()
