"""The model file a training step hands on, and how it is loaded without running its code.

The contract is a ``torch.export`` program, ``model.pt2`` (an ``ExportedProgram`` with a dynamic
batch dimension), written by :meth:`TrainContext.save_model`. TorchScript ``model.pt``
(``torch.jit``, deprecated since torch 2.13) still loads, with a note, so existing models keep
working.

``torch.export.load`` itself unpickles in three places (torch/export/pt2_archive/_package.py:
``_load_state_dict`` and ``_load_constants`` call ``torch.load(weights_only=False)`` for payloads
saved with ``use_pickle``, and ``pickle.loads`` custom/opaque objects; and
torch/_export/serde/serialize.py ``deserialize_torch_artifact`` falls back to
``weights_only=False`` for the sample inputs). :func:`check_archive` refuses every such archive
before torch sees it, so loading a ``.pt2`` never runs code from the file. torch is imported
only inside functions.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from lepton_ci.errors import LeptonError

EXPORTED = "model.pt2"
TORCHSCRIPT = "model.pt"
MAX_BATCH = 65536


class UnsafeModelFile(LeptonError):
    """A model file that could run code when loaded."""


def export_program(module: Any, example: Any) -> Any:
    """``torch.export`` of ``module`` on ``example`` with a dynamic first (batch) dimension.

    A batch of one is doubled for tracing: torch specialises a size-1 dimension to a constant."""
    import torch
    from torch.export import Dim

    if example.shape[0] == 1:
        example = torch.cat([example, example])
    batch = Dim("batch", min=1, max=MAX_BATCH)
    with torch.no_grad():
        return torch.export.export(module, (example,), dynamic_shapes=({0: batch},))


def _configs(archive: zipfile.ZipFile, kind: str) -> list[dict[str, Any]]:
    names = [n for n in archive.namelist() if n.endswith(f"_{kind}_config.json")]
    return [json.loads(archive.read(n))["config"] for n in names]


def check_archive(path: Path) -> None:
    """Refuse a ``.pt2`` whose loading would unpickle: pickled weights or constants, custom or
    opaque objects, or sample inputs that ``torch.load(weights_only=True)`` rejects."""
    import torch

    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise UnsafeModelFile(f"{path} is not a torch.export archive: {exc}") from None
    with archive:
        for kind in ("weights", "constants"):
            for config in _configs(archive, kind):
                for name, payload in config.items():
                    if payload.get("use_pickle") or not str(
                        payload.get("path_name", "")
                    ).startswith(("weight_", "tensor_")):
                        raise UnsafeModelFile(
                            f"{path}: {kind} entry {name!r} is pickled or a custom object; "
                            "loading it could run code, so it is refused",
                            hint="export plain tensors only (no tensor subclasses or "
                            "script objects), e.g. with TrainContext.save_model",
                        )
        for name in archive.namelist():
            if "/data/sample_inputs/" in name:
                try:
                    torch.load(io.BytesIO(archive.read(name)), weights_only=True)
                except Exception:  # any refusal by the safe unpickler
                    raise UnsafeModelFile(
                        f"{path}: its sample inputs need a full unpickler; refused"
                    ) from None


def load_exported(path: Path, device: str = "cpu") -> Any:
    """The callable module of the checked ``.pt2`` at ``path``, on ``device``."""
    import torch

    check_archive(path)
    program = torch.export.load(str(path))
    return program.module().to(device)


def load_torchscript(path: Path, device: str = "cpu") -> Any:
    import torch

    module = torch.jit.load(str(path), map_location=device)  # type: ignore[no-untyped-call]
    return module.eval()


def model_file(model_dir: Path) -> Path | None:
    """The model file of an artifact: ``model.pt2`` first, else TorchScript ``model.pt``."""
    for name in (EXPORTED, TORCHSCRIPT):
        if (model_dir / name).is_file():
            return model_dir / name
    return None


def load_model(model_dir: Path, device: str = "cpu") -> tuple[Any, str]:
    """The artifact's model (see :func:`model_file`) and the note to log when it is TorchScript."""
    path = model_file(model_dir)
    if path is None:
        raise LeptonError(
            f"no {EXPORTED} (or TorchScript {TORCHSCRIPT}) in {model_dir}",
            hint="save the model with ctx.save_model(module, example_input) in train",
        )
    if path.name == EXPORTED:
        return load_exported(path, device), ""
    note = (
        f"{path.name} is TorchScript, deprecated since torch 2.13; "
        "ctx.save_model writes a torch.export program (model.pt2) instead"
    )
    return load_torchscript(path, device), note
