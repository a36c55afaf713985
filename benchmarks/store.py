"""Artifact-store benchmark: `models register` and `models pull` of a large model.

For each store (local directory; S3 on moto's standalone server on loopback; an OCI registry:
the Debian docker-registry that `.ci/services` starts on loopback) it registers a model of
``--model-mb`` MiB (random weights, so nothing deduplicates) and pulls it into a fresh
directory, each as its own `lepton-ci` process, and reports wall time, throughput and the
process's peak RSS; baselines in the same run: ``cp -r`` of the model directory (local), one
boto3 ``upload_file`` / ``download_file`` of the same bytes (S3), and ``docker push`` / ``docker
pull`` of an image whose one layer is the model directory (OCI; the engine does the work, so
the RSS of that row is the docker client's only). A store that held the model in memory would
show a peak RSS above the model's size; the goal is far below it.

Run: ``.venv/bin/python benchmarks/store.py [--model-mb 200] [--stores local,s3,oci]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lepton_ci.netutil import free_port  # noqa: E402
from lepton_ci.runtime.manifest import build_manifest, write_manifest  # noqa: E402
from tests.registry.conftest import evaluation  # noqa: E402

TIME = shutil.which("time", path="/usr/bin:/bin") or "time"  # GNU time (Debian: apt install time)
SPEC = """\
project: {name: Bench, model: bench}
train: {entrypoint: "pkg.train:main"}
evaluate: {entrypoint: "pkg.evaluate:main"}
"""


def measured(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of one process, through GNU time: a child's ``ru_maxrss``
    seen from here would include this (larger) process's RSS, which the kernel charges to a
    vforked child at exec."""
    report = cwd / ".rss"
    start = time.monotonic()
    proc = subprocess.run(
        [TIME, "-f", "%M", "-o", str(report), *args], cwd=cwd, env=env, stdout=subprocess.DEVNULL
    )
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed")
    return seconds, int(report.read_text().split()[-1]) / 1024


def make_run(root: Path, megabytes: int) -> Path:
    run = root / ".lepton" / "run"
    model = run / "train"
    model.mkdir(parents=True)
    with (model / "model.pt").open("wb") as out:
        for _ in range(megabytes):
            out.write(os.urandom(1 << 20))
    manifest = build_manifest(
        model,
        model="bench",
        root=model,
        data_hash="sha256:" + "0" * 64,
        params={},
        seed=0,
        device="cpu",
        durations={},
        cache_key="bench",
    )
    write_manifest(model, manifest)
    (run / "evaluate").mkdir()
    (run / "evaluate" / "metrics.json").write_text(json.dumps(evaluation(0.95, model="bench")))
    return model


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1).close()
            return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("moto server did not start")


REPOSITORY = f"bench/store-{os.getpid()}"


def oci_services() -> dict[str, str]:
    """DOCKER_HOST and LEPTON_LOCAL_REGISTRY from `.ci/services` (starts them if need be)."""
    proc = subprocess.run(
        ["bash", str(ROOT / ".ci" / "services")],
        capture_output=True,
        text=True,
        env={**os.environ, "LEPTON_PYTHON": sys.executable},
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f".ci/services failed:\n{proc.stderr[-2000:]}")
    pairs = (line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    return {key: value for key, value in pairs}


def docker_baseline(
    model: Path, work: Path, env: dict[str, str], size: float
) -> list[tuple[str, str, float, float, float]]:
    """``docker push`` and ``docker pull`` of an image whose one layer is the model directory."""
    image = f"{env['LEPTON_LOCAL_REGISTRY']}/{REPOSITORY}-image:bench"
    layer = work / "layer.tar"
    subprocess.run(["tar", "-cf", str(layer), "-C", str(model), "."], check=True)
    subprocess.run(
        ["docker", "import", str(layer), image], env=env, check=True, capture_output=True
    )
    layer.unlink()
    try:
        push = measured(["docker", "push", "--quiet", image], work, env)
        subprocess.run(["docker", "image", "rm", image], env=env, check=True, capture_output=True)
        pull = measured(["docker", "pull", "--quiet", image], work, env)
    finally:
        subprocess.run(["docker", "image", "rm", "-f", image], env=env, capture_output=True)
    return [
        ("oci", "baseline: docker push (1 layer)", push[0], size / push[0], push[1]),
        ("oci", "baseline: docker pull (1 layer)", pull[0], size / pull[0], pull[1]),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-mb", type=int, default=200)
    parser.add_argument("--stores", default="local,s3,oci")
    args = parser.parse_args()
    lepton = [sys.executable, "-m", "lepton_ci"]
    rows: list[tuple[str, str, float, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "lepton.yaml").write_text(SPEC)
        model = make_run(work, args.model_mb)
        size = sum(p.stat().st_size for p in model.iterdir()) / 2**20
        base = {**os.environ, "PYTHONPATH": str(ROOT), "LEPTON_REGISTRY": ""}
        base.pop("CI", None)
        for kind in args.stores.split(","):
            env = dict(base)
            moto = None
            if kind == "s3":
                import boto3

                moto, url = start_moto()
                env |= {
                    "AWS_ACCESS_KEY_ID": "bench",
                    "AWS_SECRET_ACCESS_KEY": "bench",
                    "AWS_DEFAULT_REGION": "us-east-1",
                    "AWS_ENDPOINT_URL_S3": url,
                    "LEPTON_ARTIFACTS": "s3://bench/lepton",
                }
                os.environ.update({k: env[k] for k in env if k.startswith("AWS_")})
                boto3.client("s3").create_bucket(Bucket="bench")
            elif kind == "oci":
                services = oci_services()
                env |= services
                env["LEPTON_ARTIFACTS"] = f"oci://{services['LEPTON_LOCAL_REGISTRY']}/{REPOSITORY}"
            else:
                env["LEPTON_ARTIFACTS"] = str(work / "artifacts")
            env["LEPTON_REGISTRY"] = str(work / f"{kind}.db")
            try:
                secs, rss = measured([*lepton, "models", "register"], work, env)
                rows.append((kind, "models register", secs, size / secs, rss))
                target = work / f"pulled-{kind}"
                secs, rss = measured([*lepton, "models", "pull", "1", str(target)], work, env)
                rows.append((kind, "models pull", secs, size / secs, rss))
                shutil.rmtree(target)
                if kind == "local":
                    secs, rss = measured(["cp", "-r", str(model), str(work / "cp")], work, env)
                    rows.append((kind, "baseline: cp -r", secs, size / secs, rss))
                elif kind == "oci":
                    rows += docker_baseline(model, work, env, size)
                else:
                    script = (
                        "import boto3,sys; c=boto3.client('s3'); "
                        "c.upload_file(sys.argv[1],'bench','plain'); "
                        "c.download_file('bench','plain',sys.argv[2])"
                    )
                    secs, rss = measured(
                        [sys.executable, "-c", script, str(model / "model.pt"), str(work / "dl")],
                        work,
                        env,
                    )
                    rows.append((kind, "baseline: boto3 upload+download", secs, size / secs, rss))
            finally:
                if moto is not None:
                    moto.terminate()
                    moto.wait(10)
        secs, rss = measured([*lepton, "--help"], work, base)
        rows.append(("-", "baseline: lepton-ci --help", secs, 0.0, rss))
    print(f"model: {size:.1f} MiB of random weights (nothing to deduplicate)")
    print(f"{'store':6} {'operation':34} {'seconds':>8} {'MiB/s':>8} {'peak RSS MiB':>13}")
    for kind, op, secs, rate, rss in rows:
        print(f"{kind:6} {op:34} {secs:8.2f} {rate:8.1f} {rss:13.1f}")


if __name__ == "__main__":
    main()
