"""Turning request inputs into model outputs: the default torch predictor and custom ones.

A custom predictor is ``spec.serve.entrypoint = "package.module:load"`` where
``load(model_dir: Path)`` returns either a callable ``(inputs: list) -> outputs`` or an object
with ``predict(inputs)``. It may return ``{"outputs": ..., "predictions": ...}`` or just outputs.
Raise :class:`BadInput` for inputs the model cannot take; it becomes a 422 with your message.
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lepton_ci.errors import LeptonError, MissingDependency


class BadInput(ValueError):
    """The request's inputs cannot be fed to the model (message is shown to the client)."""


class ModelLoadError(LeptonError):
    """The model in the artifact could not be loaded."""


Predict = Callable[[list[Any]], dict[str, Any]]


def _import_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise MissingDependency("torch", "serve") from None
    return torch


class TorchPredictor:
    """The artifact's ``model.pt2`` (a checked torch.export program) or TorchScript ``model.pt``,
    called on a float32 batch of the inputs (:func:`lepton_ci.model_files.load_model`).

    Outputs with a class dimension (``[batch, classes]``, classes > 1) predict the argmax;
    otherwise predictions equal outputs.
    """

    def __init__(self, model_dir: Path, *, threads: int) -> None:
        from lepton_ci.model_files import load_model, model_file

        torch = _import_torch()
        self._torch = torch
        path = model_file(Path(model_dir))
        if path is None:
            raise ModelLoadError(
                f"no model.pt2 (or TorchScript model.pt) in {model_dir}",
                hint="save the model with ctx.save_model(module, example_input) in train, "
                "or set serve.entrypoint in lepton.yaml",
            )
        self.threads = threads
        torch.set_num_threads(threads)
        try:
            self.module, self.note = load_model(Path(model_dir))
        except LeptonError:
            raise
        except Exception as exc:  # torch raises RuntimeError/ValueError subclasses
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelLoadError(f"cannot load {path}: {first}") from None
        self._lock = threading.Lock()

    def __call__(self, inputs: list[Any]) -> dict[str, Any]:
        torch = self._torch
        try:
            batch = torch.as_tensor(inputs, dtype=torch.float32)
        except (ValueError, TypeError, RuntimeError) as exc:
            raise BadInput(
                "`inputs` must be a list of numbers or of equally shaped numeric arrays "
                f"({str(exc).splitlines()[0]})"
            ) from None
        if batch.dim() == 0:
            raise BadInput("`inputs` must be a list, one entry per example")
        with self._lock, torch.inference_mode():
            # OpenMP thread counts are per calling thread: set them where inference runs
            if torch.get_num_threads() != self.threads:
                torch.set_num_threads(self.threads)
            try:
                output = self.module(batch)
            except (RuntimeError, AssertionError, ValueError) as exc:  # shape guards of .pt2
                shape = list(batch.shape)
                raise BadInput(
                    f"the model cannot take inputs of shape {shape}: {_last_line(str(exc))}"
                ) from None
        if isinstance(output, tuple | list):
            output = output[0]
        outputs = output.tolist()
        if output.dim() == 2 and output.shape[1] > 1:
            predictions = output.argmax(dim=1).tolist()
        else:
            predictions = outputs
        return {"outputs": outputs, "predictions": predictions}


_PATH = re.compile(r"(?<![\w.:])/(?:[\w.@+-]+/)*[\w.@+-]+")


def _last_line(text: str) -> str:
    """The error's last line for a 422, with file paths (the server's layout) masked."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return _PATH.sub("<path>", lines[-1])[:300] if lines else "error"


def load_predictor(model_dir: Path, *, entrypoint: str | None, threads: int) -> Predict:
    """The predictor for an artifact: the spec's entrypoint, or the default torch one."""
    if entrypoint is None:
        return TorchPredictor(model_dir, threads=threads)
    module_name, _, attr = entrypoint.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ModelLoadError(
            f"serve.entrypoint {entrypoint!r} cannot be imported: {exc}",
            hint="the module must be importable from the working directory (PYTHONPATH)",
        ) from None
    loaded = factory(Path(model_dir))
    call = getattr(loaded, "predict", loaded)
    if not callable(call):
        raise ModelLoadError(f"serve.entrypoint {entrypoint!r} returned a non-callable predictor")

    def predict(inputs: list[Any]) -> dict[str, Any]:
        result = call(inputs)
        if isinstance(result, dict) and "outputs" in result:
            return {
                "outputs": result["outputs"],
                "predictions": result.get("predictions", result["outputs"]),
            }
        result = result.tolist() if hasattr(result, "tolist") else result
        return {"outputs": result, "predictions": result}

    return predict
