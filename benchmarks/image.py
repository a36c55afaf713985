"""Image benchmark: cold build vs rebuild after a model-only change and vs a build with
nothing changed (a no-op: the engine has an image of the same inputs), and the bytes a
model-only push uploads vs the model's size (goal: <= 1.1x).

Run: `bash .ci/services && .venv/bin/python benchmarks/image.py [--model-mb 16]`
Uses the local Docker engine and registry started by .ci/services; prints one table.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def make_model(train_dir: Path, *, width: int, seed: int) -> int:
    """A TorchScript MLP of about width^2 * 4 bytes, plus its manifest; returns the model bytes."""
    import shutil

    import torch

    from lepton_ci.runtime.manifest import build_manifest, write_manifest

    shutil.rmtree(train_dir, ignore_errors=True)
    train_dir.mkdir(parents=True)
    torch.manual_seed(seed)
    module = torch.nn.Sequential(
        torch.nn.Linear(64, width),
        torch.nn.ReLU(),
        torch.nn.Linear(width, width),
        torch.nn.ReLU(),
        torch.nn.Linear(width, 10),
    )
    torch.jit.save(torch.jit.trace(module.eval(), torch.zeros(1, 64)), str(train_dir / "model.pt"))
    write_manifest(
        train_dir,
        build_manifest(
            train_dir,
            model="bench",
            root=train_dir,
            data_hash="sha256:" + "0" * 64,
            params={},
            seed=seed,
            device="cpu",
            durations={},
            cache_key=str(seed),
        ),
    )
    return sum(p.stat().st_size for p in train_dir.iterdir())


def registry_bytes(data_dir: Path) -> int:
    return sum(p.stat().st_size for p in data_dir.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-mb", type=float, default=16.0)
    args = parser.parse_args()
    out = subprocess.run(
        ["bash", str(REPO / ".ci/services")], capture_output=True, text=True, check=True
    ).stdout
    env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    os.environ.setdefault("DOCKER_HOST", env["DOCKER_HOST"])
    from lepton_ci.image import build_image, push_image
    from lepton_ci.spec.loader import load_spec

    width = int((args.model_mb * 1024 * 1024 / 4) ** 0.5)
    root = Path(tempfile.mkdtemp(prefix="lepton-bench-image-"))
    repo = f"bench/image-{uuid.uuid4().hex[:8]}"
    (root / "lepton.yaml").write_text(
        "version: 1\nproject: {name: bench, model: bench}\n"
        'train: {entrypoint: "a.b:c"}\nevaluate: {entrypoint: "a.b:d"}\n'
        f'image: {{base: "{env["LEPTON_BASE_IMAGE"]}", registry: "{env["LEPTON_LOCAL_REGISTRY"]}", '
        f'repository: "{repo}"}}\n'
    )
    (root / "app.py").write_text("# code\n")
    run = root / ".lepton/run"
    wheel_dir = Path(tempfile.mkdtemp())
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(REPO), "-w", str(wheel_dir)],
        check=True,
    )
    wheel = str(next(wheel_dir.glob("*.whl")))
    spec = load_spec(root / "lepton.yaml")
    storage = REPO / ".ci/.cache/registry/data"

    make_model(run / "train", width=width, seed=0)
    t0 = time.monotonic()
    build_image(spec, root=root, run_dir=run, wheel=wheel, model_version="1", no_cache=True)
    cold = time.monotonic() - t0
    push_image(spec, root=root, run_dir=run, record=False)

    model_bytes = make_model(run / "train", width=width, seed=1)
    before = registry_bytes(storage) if storage.is_dir() else None
    t0 = time.monotonic()
    built = build_image(spec, root=root, run_dir=run, wheel=wheel, model_version="2")
    warm = time.monotonic() - t0
    t0 = time.monotonic()
    result = push_image(spec, root=root, run_dir=run, record=False)
    push_seconds = time.monotonic() - t0
    stored = registry_bytes(storage) - before if before is not None else None
    uploaded = built.bytes_pushed + result.bytes_pushed
    t0 = time.monotonic()
    again = build_image(spec, root=root, run_dir=run, wheel=wheel, model_version="2")
    unchanged = time.monotonic() - t0
    assert again.reused, "nothing changed, yet the engine built"

    rows = [
        ("cold build (no cache, base present)", f"{cold:.1f} s"),
        ("rebuild (and staging push) after model-only change", f"{warm:.1f} s"),
        ("rebuild / cold", f"{warm / cold:.2f}x"),
        ("build (and staging push) with nothing changed", f"{unchanged:.1f} s"),
        ("nothing changed / cold", f"{unchanged / cold:.3f}x"),
        ("model artifact size", f"{model_bytes / 1e6:.2f} MB"),
        ("layers uploaded by the build's staging push", f"{built.layers_pushed}"),
        (f"image push ({result.via}: tags moved to the digest)", f"{push_seconds:.1f} s"),
        ("bytes uploaded, build + push (engine progress)", f"{uploaded / 1e6:.2f} MB"),
        ("uploaded / model size (goal <= 1.1x)", f"{uploaded / model_bytes:.3f}x"),
    ]
    if stored is not None:
        rows.append(("registry storage growth / model size", f"{stored / model_bytes:.3f}x"))
    width_col = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width_col}}  {value}")


if __name__ == "__main__":
    main()
