"""The model contract is a torch.export program (`model.pt2`): saved by `ctx.save_model` with a
dynamic batch dimension, served with the results of the module itself, and loaded without ever
unpickling code from the file. TorchScript `model.pt` still serves, with a deprecation note."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from lepton_ci.model_files import UnsafeModelFile, check_archive, load_exported  # noqa: E402
from lepton_ci.runtime.context import TrainContext  # noqa: E402
from lepton_ci.serve.predictor import TorchPredictor  # noqa: E402


def classifier(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))


def saved(tmp_path: Path, module: torch.nn.Module) -> Path:
    ctx = TrainContext(
        params={},
        seed=0,
        device="cpu",
        output_dir=tmp_path,
        data=[],
        root=tmp_path,
        checkpoint_dir=tmp_path / "checkpoints",
    )
    return ctx.save_model(module, example_input=torch.zeros(1, 4))


def test_save_model_writes_a_program_with_a_dynamic_batch_and_a_smoke_input(
    tmp_path: Path,
) -> None:
    module = classifier().eval()
    path = saved(tmp_path, module)
    assert path.name == "model.pt2" and zipfile.is_zipfile(path)
    assert json.loads((tmp_path / "input_example.json").read_text()) == {"inputs": [[0, 0, 0, 0]]}
    program = load_exported(path)
    for batch in (1, 3, 64):
        inputs = torch.randn(batch, 4)
        with torch.no_grad():
            assert torch.equal(program(inputs), module(inputs))


def test_served_predictions_equal_the_module_s_own(tmp_path: Path) -> None:
    module = classifier(seed=3).eval()
    saved(tmp_path, module)
    predict = TorchPredictor(tmp_path, threads=1)
    assert predict.note == ""
    inputs = torch.randn(7, 4)
    with torch.no_grad():
        expected = module(inputs)
    answer = predict(inputs.tolist())
    assert answer["outputs"] == expected.tolist()
    assert answer["predictions"] == expected.argmax(dim=1).tolist()


def _rewrite(source: Path, target: Path, change: dict[str, bytes]) -> None:
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for name in old.namelist():
            suffix = next((k for k in change if name.endswith(k)), None)
            new.writestr(name, change[suffix] if suffix else old.read(name))


class Payload:
    """Unpickling this writes a marker file: the code a hostile model file would run."""

    marker = ""

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (Path.write_text, (Path(self.marker), "ran"))


def test_an_archive_that_would_unpickle_code_is_refused_before_torch_reads_it(
    tmp_path: Path,
) -> None:
    good = saved(tmp_path / "good", classifier())
    marker = tmp_path / "marker"
    Payload.marker = str(marker)
    hostile = io.BytesIO()
    torch.save(Payload(), hostile)  # torch.load(weights_only=False) would run it

    sample_inputs = tmp_path / "sample.pt2"
    _rewrite(good, sample_inputs, {"/data/sample_inputs/model.pt": hostile.getvalue()})
    with pytest.raises(UnsafeModelFile, match="sample inputs"):
        load_exported(sample_inputs)

    with zipfile.ZipFile(good) as archive:
        name = next(n for n in archive.namelist() if n.endswith("_weights_config.json"))
        config = json.loads(archive.read(name))
    first = next(iter(config["config"].values()))
    first["use_pickle"] = True
    pickled = tmp_path / "pickled.pt2"
    _rewrite(good, pickled, {"_weights_config.json": json.dumps(config).encode()})
    with pytest.raises(UnsafeModelFile, match="pickled"):
        check_archive(pickled)
    assert not marker.exists()
    torch.load(io.BytesIO(hostile.getvalue()), weights_only=False)  # what torch would have done
    assert marker.read_text() == "ran"


def test_a_torchscript_model_still_serves_with_a_deprecation_note(tmp_path: Path) -> None:
    module = classifier().eval()
    torch.jit.save(torch.jit.trace(module, torch.zeros(1, 4)), str(tmp_path / "model.pt"))
    predict = TorchPredictor(tmp_path, threads=1)
    assert "TorchScript" in predict.note and "model.pt2" in predict.note
    inputs = [[1.0, 2.0, 3.0, 4.0]]
    with torch.no_grad():
        assert predict(inputs)["outputs"] == module(torch.tensor(inputs)).tolist()


def test_an_input_of_the_wrong_shape_is_the_client_s_error(tmp_path: Path) -> None:
    from lepton_ci.serve.predictor import BadInput

    saved(tmp_path, classifier())
    with pytest.raises(BadInput, match="shape"):
        TorchPredictor(tmp_path, threads=1)([[1.0, 2.0]])
