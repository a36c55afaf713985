"""Serving benchmark: throughput and p99 latency of `lepton-ci serve` (adaptive batching on,
its default) against a bare uvicorn + torch app serving the same model one request per forward
pass, at each concurrency given; and the limit: the raw batched forward pass, no HTTP.

Run: `.venv/bin/python benchmarks/serve.py [--requests 2000 --concurrency 1,16,64 --batch 1]`
Both servers run as separate processes on 127.0.0.1, one worker, same torch thread count;
the load generator is wrk (Debian `wrk`, installed by .ci/setup; keep-alive, `--seconds` per
level), else an asyncio + httpx client (which on 2 cores limits both servers itself), sending
single-row requests (`--batch` rows each). Goals (issue 12): >= 3x throughput at <= 1.0x p99
at concurrency 16 and 64, >= 0.95x at concurrency 1, and >= 0.5x of the raw forward pass at 64.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

BASELINE = """
import json, os, torch
torch.set_num_threads(int(os.environ["THREADS"]))
MODEL = torch.jit.load(os.path.join(os.environ["MODEL_DIR"], "model.pt")).eval()

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/readyz":
        payload = b"{}"
    else:
        inputs = json.loads(body)["inputs"]
        with torch.inference_mode():
            out = MODEL(torch.as_tensor(inputs, dtype=torch.float32))
        payload = json.dumps({"outputs": out.tolist(),
                              "predictions": out.argmax(dim=1).tolist()}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": payload})
"""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_model(model_dir: Path, hidden: int) -> None:
    import torch

    from lepton_ci.runtime.manifest import build_manifest, write_manifest

    model_dir.mkdir(parents=True)
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Linear(64, hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, 10),
    )
    torch.jit.save(torch.jit.trace(module.eval(), torch.zeros(1, 64)), str(model_dir / "model.pt"))
    write_manifest(
        model_dir,
        build_manifest(
            model_dir,
            model="bench",
            root=model_dir,
            data_hash="sha256:" + "0" * 64,
            params={},
            seed=0,
            device="cpu",
            durations={},
            cache_key="0",
        ),
    )


def wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("server did not get ready")


async def load(port: int, requests: int, concurrency: int, batch: int) -> tuple[float, list[float]]:
    import httpx

    body = {"inputs": [[0.01 * i] * 64 for i in range(batch)]}
    latencies: list[float] = []
    queue = iter(range(requests))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits) as client:

        async def worker() -> None:
            for _ in queue:
                start = time.perf_counter()
                response = await client.post("/predict", json=body)
                latencies.append(time.perf_counter() - start)
                if response.status_code != 200:
                    raise SystemExit(f"status {response.status_code}: {response.text}")

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return requests / elapsed, latencies


WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[{body}]==]
"""


def wrk_load(port: int, seconds: float, concurrency: int, batch: int) -> tuple[float, float]:
    """Requests/s and p99 (ms) from wrk (Debian `wrk`): a C load generator, so the client is
    not what limits the servers on a 2-core machine, as an asyncio client in Python is."""
    import json
    import re

    body = json.dumps({"inputs": [[0.01 * i] * 64 for i in range(batch)]})
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT.format(body=body))
    out = subprocess.run(
        [
            *("wrk", "-t1", f"-c{concurrency}", f"-d{seconds:g}s", "--latency"),
            *("-s", script.name, f"http://127.0.0.1:{port}/predict"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    Path(script.name).unlink()
    if "Non-2xx" in out:
        raise SystemExit(f"wrk saw errors:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    return rps, float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def bench(
    argv: list[str], port: int, env: dict[str, str], args: argparse.Namespace
) -> tuple[float, float]:
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port, proc)
        if shutil.which("wrk"):
            wrk_load(port, 1, args.concurrency, args.batch)  # warm-up
            return wrk_load(port, args.seconds, args.concurrency, args.batch)
        asyncio.run(load(port, args.requests // 10, args.concurrency, args.batch))  # warm-up
        rps, latencies = asyncio.run(load(port, args.requests, args.concurrency, args.batch))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    p99 = statistics.quantiles(latencies, n=100)[98] * 1000
    return rps, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000, help="without wrk: per level")
    parser.add_argument("--seconds", type=float, default=5.0, help="with wrk: per level")
    parser.add_argument("--concurrency", default="1,16,64", help="comma-separated levels")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument(
        "--hidden",
        type=int,
        default=2048,
        help="width of the MLP's two hidden layers (2048: 17 MB of weights, whose reading "
        "dominates a one-row forward pass, as in real models)",
    )
    parser.add_argument("--lepton-args", default="", help="extra `lepton-ci serve` options")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lepton-bench-serve-"))
    model_dir = work / "model"
    make_model(model_dir, args.hidden)
    (work / "baseline.py").write_text(BASELINE)
    env = {
        **os.environ,
        "MODEL_DIR": str(model_dir),
        "THREADS": str(args.threads),
        "PYTHONPATH": str(work),
    }
    uvicorn = [
        sys.executable,
        "-m",
        "uvicorn",
        "--host",
        "127.0.0.1",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    levels = [int(c) for c in str(args.concurrency).split(",")]
    lepton = [
        *(sys.executable, "-m", "lepton_ci", "serve", "--model-dir", str(model_dir)),
        *("--threads", str(args.threads), "--spec", str(work / "none.yaml")),
        *args.lepton_args.split(),
    ]
    print(
        f"requests={args.requests} batch={args.batch} threads={args.threads} "
        f"hidden={args.hidden} lepton-args={args.lepton_args!r} "
        f"rounds={args.rounds} (servers alternate; median of rounds)"
    )
    limit = raw_forward_rows_per_second(model_dir, args.threads)
    print(f"limit: raw batched forward pass (32 rows, no HTTP) {limit:9.0f} rows/s")
    for level in levels:
        args.concurrency = level
        results: dict[str, list[tuple[float, float]]] = {"baseline": [], "lepton": []}
        for _ in range(args.rounds):  # alternate, so drift on a shared machine hits both
            port = free_port()
            results["baseline"].append(
                bench([*uvicorn, "--port", str(port), "baseline:app"], port, env, args)
            )
            port = free_port()
            results["lepton"].append(bench([*lepton, "--port", str(port)], port, env, args))
        report(level, results, limit * 1.0 / max(1, args.batch))


def raw_forward_rows_per_second(model_dir: Path, threads: int, rows: int = 32) -> float:
    import torch

    torch.set_num_threads(threads)
    module = torch.jit.load(str(model_dir / "model.pt")).eval()
    batch = torch.randn(rows, 64)
    with torch.inference_mode():
        for _ in range(20):
            module(batch)
        start, passes = time.perf_counter(), 0
        while time.perf_counter() - start < 2.0:
            module(batch)
            passes += 1
    return passes * rows / (time.perf_counter() - start)


def report(level: int, results: dict[str, list[tuple[float, float]]], limit: float) -> None:
    print(f"-- concurrency {level}")
    for name, rounds in results.items():
        rps = statistics.median(r for r, _ in rounds)
        p99 = statistics.median(p for _, p in rounds)
        each = ", ".join(f"{r:.0f}" for r, _ in rounds)
        print(f"{name:<9} {rps:8.1f} req/s   p99 {p99:7.2f} ms   (rounds: {each} req/s)")
    ratios = [le[0] / b[0] for b, le in zip(results["baseline"], results["lepton"], strict=True)]
    p99s = [le[1] / b[1] for b, le in zip(results["baseline"], results["lepton"], strict=True)]
    lepton = statistics.median(r for r, _ in results["lepton"])
    print(
        f"throughput lepton-ci serve / baseline: {statistics.median(ratios):.2f}x "
        f"(per round {', '.join(f'{r:.2f}' for r in ratios)}); "
        f"p99 ratio {statistics.median(p99s):.2f}x; "
        f"of the raw forward pass: {lepton / limit:.3f}x"
    )


if __name__ == "__main__":
    main()
