"""What train and evaluate entrypoints receive: :class:`TrainContext` and :class:`EvalContext`.

An entrypoint is a plain function ``def train(ctx: TrainContext) -> None`` /
``def evaluate(ctx: EvalContext) -> EvalResult``; the runtime seeds, picks the device, sets up
torch.distributed when scaled out, and collects what the function writes to ``ctx.output_dir``.
"""

from __future__ import annotations

import copy
import io
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from lepton_ci import console
from lepton_ci.fsutil import atomic_write_bytes
from lepton_ci.model_files import (
    EXPORTED,
    TORCHSCRIPT,
    export_program,
    load_model,
    load_torchscript,
)

T = TypeVar("T")
CHECKPOINT = "last.pt"


class ConsoleHandler(logging.Handler):
    """Routes a step's log records through :mod:`lepton_ci.console` (timestamped in CI)."""

    def __init__(self, step: str) -> None:
        super().__init__()
        self.step = step

    def emit(self, record: logging.LogRecord) -> None:
        console.info(self.format(record), step=self.step)


def step_logger(step: str, rank: int = 0) -> logging.Logger:
    logger = logging.getLogger(f"lepton_ci.{step}.rank{rank}")
    logger.propagate = False
    logger.setLevel(logging.INFO if rank == 0 else logging.WARNING)
    if not logger.handlers:
        logger.addHandler(ConsoleHandler(step if rank == 0 else f"{step}:rank{rank}"))
    return logger


@dataclass
class TrainContext:
    """Everything a training function needs; see docs/steps.md.

    Attributes: ``params`` (from lepton.yaml, overridable with ``--param``), ``seed`` (already
    applied to python, numpy and torch), ``device`` (``cpu``, ``cuda``, ``cuda:N``, ``mps``),
    ``output_dir`` (write the model files here; the runtime adds the manifest), ``data``
    (absolute training data paths), ``root`` (the model repository), ``logger``, and the
    distributed coordinates ``rank``, ``local_rank``, ``world_size``.
    """

    params: dict[str, Any]
    seed: int
    device: str
    output_dir: Path
    data: list[Path]
    root: Path
    checkpoint_dir: Path
    logger: logging.Logger = field(default_factory=lambda: step_logger("train"))
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    metrics: dict[str, list[tuple[int | None, float]]] = field(default_factory=dict)
    resumed_from: dict[str, Any] | None = None

    @property
    def is_main(self) -> bool:
        """True on the process that writes files (global rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    # metrics and progress -------------------------------------------------------------------
    def log_metric(self, name: str, value: float, step: int | None = None) -> None:
        """Record a training metric (kept in the manifest's ``train_metrics``; last value wins)."""
        if not self.is_main:
            return
        self.metrics.setdefault(name, []).append((step, float(value)))
        where = f" (step {step})" if step is not None else ""
        self.logger.info(f"{name}={float(value):.6g}{where}")

    def progress(self, items: Iterable[T], *, total: int | None = None, desc: str) -> Iterator[T]:
        """A bar on a terminal, periodic timestamped lines in CI logs (main process only)."""
        if not self.is_main:
            return iter(items)
        return console.progress(items, total=total, desc=desc, step="train")

    # model files ----------------------------------------------------------------------------
    def save_model(self, module: Any, example_input: Any, name: str = EXPORTED) -> Path:
        """Export ``module`` (unwrapping DDP) on CPU in eval mode with ``torch.export`` and save
        it as ``model.pt2``, the program ``lepton-ci serve`` and ``ctx.load_model`` run, with
        a dynamic batch dimension. Only the main process writes; the path is returned on every
        rank."""
        import torch

        path = self.output_dir / name
        if not self.is_main:
            return path
        cpu_module, example = self._cpu_copy(module, example_input)
        buffer = io.BytesIO()
        torch.export.save(export_program(cpu_module, example), buffer)
        atomic_write_bytes(path, buffer.getvalue())
        self._write_input_example(example)
        return path

    def save_torchscript(self, module: Any, example_input: Any, name: str = TORCHSCRIPT) -> Path:
        """Trace ``module`` and save it as TorchScript ``model.pt`` (deprecated since torch
        2.13: prefer :meth:`save_model`; still served and evaluated)."""
        import torch

        path = self.output_dir / name
        if not self.is_main:
            return path
        self.logger.warning(
            "TorchScript is deprecated since torch 2.13; ctx.save_model(module, example_input) "
            "writes a torch.export program (model.pt2) instead"
        )
        cpu_module, example = self._cpu_copy(module, example_input)
        with torch.no_grad():
            scripted = torch.jit.trace(cpu_module, example)  # type: ignore[no-untyped-call]
        buffer = io.BytesIO()
        torch.jit.save(scripted, buffer)
        atomic_write_bytes(path, buffer.getvalue())
        if name == TORCHSCRIPT:
            self._write_input_example(example)
        return path

    @staticmethod
    def _cpu_copy(module: Any, example_input: Any) -> tuple[Any, Any]:
        inner = getattr(module, "module", module)
        cpu_module = copy.deepcopy(inner).to("cpu").eval()
        example = example_input.to("cpu") if hasattr(example_input, "to") else example_input
        return cpu_module, example

    def _write_input_example(self, example: Any) -> None:
        """The request body deploy smoke-tests ``/predict`` with (see docs/deploy.md)."""
        if hasattr(example, "tolist"):
            smoke = {"inputs": example[:1].tolist()}
            atomic_write_bytes(self.output_dir / "input_example.json", json.dumps(smoke).encode())

    def save_reference(self, features: Any, names: Sequence[str], predictions: Any = None) -> Path:
        """Hand over the drift reference: a sample of training inputs ``features`` [rows,
        features] (array-like), a name per column, and optionally the model's predictions on
        those rows. Written as ``drift_reference.npz``; the runtime bins it into the manifest's
        ``drift`` section, which ``lepton-ci serve`` and the alert rules compare traffic with
        (docs/monitoring.md#drift). Only the main process writes."""
        from lepton_ci.drift import REFERENCE_FILE, save_sample

        path = self.output_dir / REFERENCE_FILE
        if self.is_main:
            save_sample(path, _numpy(features), names, _numpy(predictions))
        return path

    # checkpoints ----------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.checkpoint_dir / CHECKPOINT

    def checkpoint(self, state: dict[str, Any]) -> None:
        """Save ``state`` (plus RNG states and logged metrics) atomically; call once per epoch.

        Only the main process writes; all processes wait for it when distributed.
        """
        import torch

        from lepton_ci.runtime.seeding import rng_state

        if self.is_main:
            payload = {"state": state, "rng": rng_state(), "metrics": self.metrics}
            buffer = io.BytesIO()
            torch.save(payload, buffer)
            atomic_write_bytes(self.checkpoint_path, buffer.getvalue())
        self.barrier()

    def resume(self) -> dict[str, Any] | None:
        """The state of the last checkpoint of an interrupted run (RNG states restored), or None.

        Tensors are mapped to ``ctx.device``.
        """
        import torch

        from lepton_ci.runtime.seeding import set_rng_state

        if not self.checkpoint_path.is_file():
            return None
        payload = torch.load(self.checkpoint_path, map_location=self.device, weights_only=False)
        set_rng_state(payload["rng"])
        self.metrics = payload.get("metrics", {})
        state: dict[str, Any] = payload["state"]
        self.resumed_from = {k: v for k, v in state.items() if isinstance(v, (int, float, str))}
        self.logger.info(f"resuming from checkpoint {self.resumed_from or ''}".rstrip())
        return state

    # scale-out ------------------------------------------------------------------------------
    def wrap_model(self, model: Any) -> Any:
        """Move ``model`` to the device; wrap it in DistributedDataParallel when scaled out."""
        model = model.to(self.device)
        if not self.distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel

        if self.device.startswith("cuda"):
            return DistributedDataParallel(model, device_ids=[self.local_rank])
        return DistributedDataParallel(model)

    def data_loader(
        self, dataset: Any, *, batch_size: int, shuffle: bool = True, **kwargs: Any
    ) -> Any:
        """A DataLoader over this process's shard (DistributedSampler seeded with ``seed``).

        Call ``loader.sampler.set_epoch(epoch)`` at the start of each epoch so shuffles differ
        per epoch and stay reproducible (also across a resume).
        """
        from torch.utils.data import DataLoader, DistributedSampler

        sampler: DistributedSampler[Any] = DistributedSampler(
            dataset,
            num_replicas=self.world_size,
            rank=self.rank,
            shuffle=shuffle,
            seed=self.seed,
            drop_last=False,
        )
        return DataLoader(dataset, batch_size=batch_size, sampler=sampler, **kwargs)

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()

    def last_metrics(self) -> dict[str, float]:
        return {name: values[-1][1] for name, values in self.metrics.items() if values}

    def write_metric_history(self) -> None:
        lines = [
            json.dumps({"name": name, "step": step, "value": value})
            for name, values in self.metrics.items()
            for step, value in values
        ]
        if lines:
            atomic_write_bytes(self.output_dir / "train_metrics.jsonl", "\n".join(lines).encode())


def _numpy(value: Any) -> Any:
    """A torch tensor (any device, with grad) as numpy; anything else as it is."""
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return value


@dataclass
class EvalContext:
    """What an evaluation function receives; it returns an :class:`~lepton_ci.runtime.EvalResult`.

    ``model_dir`` is the verified training artifact, ``dataset`` the evaluation data path
    (``evaluate.dataset``), ``task`` ``classification`` or ``regression``.
    """

    params: dict[str, Any]
    device: str
    model_dir: Path
    dataset: Path | None
    root: Path
    task: str
    manifest: dict[str, Any]
    logger: logging.Logger = field(default_factory=lambda: step_logger("evaluate"))

    def load_model(self) -> Any:
        """The artifact's model on ``device``: the ``model.pt2`` program that
        :meth:`TrainContext.save_model` wrote, or a TorchScript ``model.pt`` (with a note)."""
        module, note = load_model(self.model_dir, self.device)
        if note:
            self.logger.warning(note)
        return module

    def load_torchscript(self, name: str = TORCHSCRIPT) -> Any:
        """Load a TorchScript model from the artifact, on ``device``, in eval mode."""
        return load_torchscript(self.model_dir / name, self.device)
