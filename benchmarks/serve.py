"""Serving benchmark: throughput and p99 latency of `lepton-ci serve` against a bare
uvicorn + torch app serving the same TorchScript model (goal: >= 0.9x throughput).

Run: `.venv/bin/python benchmarks/serve.py [--requests 2000 --concurrency 8 --batch 8]`
Both servers run as separate processes on 127.0.0.1, one worker, same torch thread count;
the load generator (asyncio + httpx, keep-alive) sends a bounded number of requests.
"""

from __future__ import annotations

import argparse
import asyncio
import os
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


def make_model(model_dir: Path) -> None:
    import torch

    from lepton_ci.runtime.manifest import build_manifest, write_manifest

    model_dir.mkdir(parents=True)
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10)
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


def bench(
    argv: list[str], port: int, env: dict[str, str], args: argparse.Namespace
) -> tuple[float, float]:
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port, proc)
        asyncio.run(load(port, args.requests // 10, args.concurrency, args.batch))  # warm-up
        rps, latencies = asyncio.run(load(port, args.requests, args.concurrency, args.batch))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    p99 = statistics.quantiles(latencies, n=100)[98] * 1000
    return rps, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lepton-bench-serve-"))
    model_dir = work / "model"
    make_model(model_dir)
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
    results: dict[str, list[tuple[float, float]]] = {"baseline": [], "lepton": []}
    for _ in range(args.rounds):  # alternate, so drift on a shared machine hits both
        port = free_port()
        results["baseline"].append(
            bench([*uvicorn, "--port", str(port), "baseline:app"], port, env, args)
        )
        port = free_port()
        results["lepton"].append(
            bench(
                [
                    sys.executable,
                    "-m",
                    "lepton_ci",
                    "serve",
                    "--model-dir",
                    str(model_dir),
                    "--port",
                    str(port),
                    "--threads",
                    str(args.threads),
                    "--spec",
                    str(work / "none.yaml"),
                ],
                port,
                env,
                args,
            )
        )
    print(
        f"requests={args.requests} concurrency={args.concurrency} batch={args.batch} "
        f"threads={args.threads} rounds={args.rounds} (servers alternate; median of rounds)"
    )
    for name, rounds in results.items():
        rps = statistics.median(r for r, _ in rounds)
        p99 = statistics.median(p for _, p in rounds)
        each = ", ".join(f"{r:.0f}" for r, _ in rounds)
        print(f"{name:<9} {rps:8.1f} req/s   p99 {p99:7.2f} ms   (rounds: {each} req/s)")
    ratios = [le[0] / b[0] for b, le in zip(results["baseline"], results["lepton"], strict=True)]
    p99s = [le[1] / b[1] for b, le in zip(results["baseline"], results["lepton"], strict=True)]
    print(
        f"throughput lepton-ci serve / baseline: {statistics.median(ratios):.2f}x "
        f"(goal >= 0.9x; per round {', '.join(f'{r:.2f}' for r in ratios)})"
    )
    print(f"p99 lepton-ci serve / baseline: {statistics.median(p99s):.2f}x")


if __name__ == "__main__":
    main()
