"""Evaluation entrypoint: ``evaluate.entrypoint: digits.evaluate:evaluate``.

We return the held-out labels, the input batches and a ``predict`` function; lepton-ci calls it
batch by batch (timing each call for latency) and computes accuracy, macro-F1, per-class
precision/recall and loss itself, so every model is measured the same way.
"""

from __future__ import annotations

import torch

from digits.data import load
from lepton_ci.runtime import EvalResult


def evaluate(ctx) -> EvalResult:  # type: ignore[no-untyped-def]
    model = ctx.load_model()  # the model.pt2 that training saved
    images, labels = load(ctx.dataset).tensors
    batch_size = int(ctx.params.get("batch_size", 64))

    def predict(batch: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return model(batch.to(ctx.device))

    return EvalResult(
        y_true=labels,
        batches=torch.split(images, batch_size),
        predict=predict,
        output_kind="logits",
        class_names=[str(digit) for digit in range(10)],
    )
