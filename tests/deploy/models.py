"""Small real model artifacts (TorchScript + manifest + input example) for deploy tests."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from lepton_ci.runtime.manifest import build_manifest, write_manifest

EXAMPLE = {"inputs": [[0.5, -1.0, 2.0, 0.25]]}


def write_model(model_dir: Path, seed: int, drift: dict[str, Any] | None = None) -> Path:
    """A 4 -> 3 linear classifier; ``seed`` changes the weights (and so the digest);
    ``drift``: the manifest's training reference (lepton_ci.drift.Reference.to_manifest)."""
    import torch

    torch.manual_seed(seed)
    model_dir.mkdir(parents=True, exist_ok=True)
    for stale in model_dir.iterdir():
        stale.unlink()
    with warnings.catch_warnings():  # torch.jit.script is deprecated; serve still loads it
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(torch.nn.Linear(4, 3)).save(str(model_dir / "model.pt"))
    (model_dir / "input_example.json").write_text(json.dumps(EXAMPLE))
    manifest = build_manifest(
        model_dir,
        model="deploy-test",
        root=model_dir,
        data_hash="sha256:" + "0" * 64,
        params={"seed": seed},
        seed=seed,
        device="cpu",
        durations={"train_seconds": 0.0},
        cache_key=f"test-{seed}",
        extra={"drift": drift} if drift else None,
    )
    write_manifest(model_dir, manifest)
    return model_dir
