"""``lepton-ci evaluate``: metrics, quality gates against thresholds and the champion, JUnit.

Writes ``evaluate/metrics.json`` (contract 2), ``evaluate/samples.npz`` (per-sample results for
the next version's paired bootstrap) and the JUnit report, *then* raises :class:`GateFailed`
when a gate failed, so CI keeps every report of a failing evaluation.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lepton_ci import console
from lepton_ci.errors import GateFailed, MissingDependency, StepError
from lepton_ci.fsutil import atomic_write_json, remove_tree
from lepton_ci.outcome import report_outcome
from lepton_ci.run_dir import RunDir
from lepton_ci.runtime.gates import GateResult, evaluate_gates
from lepton_ci.runtime.junit import metrics_table, render_junit, write_junit
from lepton_ci.runtime.manifest import verify_artifacts
from lepton_ci.runtime.metrics import (
    Samples,
    classification,
    paired_bootstrap,
    percentile_ms,
    regression,
    to_numpy,
)
from lepton_ci.runtime.results import EvalResult
from lepton_ci.spec.model import Spec

STEP = "evaluate"
SCHEMA_VERSION = 1
SAMPLES_FILE = "samples.npz"


@dataclass
class EvaluateOptions:
    run_dir: Path = RunDir().path
    junit: Path | None = None
    report_only: bool = False
    device: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    champion_dir: Path | None = None
    """A previous run's ``evaluate/`` directory to compare with instead of the registry's."""
    use_registry: bool = True
    cache: bool = True
    cache_dir: Path | None = None
    """The step cache (default: the train step's, ``$LEPTON_CACHE_DIR``)."""


@dataclass(frozen=True)
class Champion:
    name: str
    version: int | None
    metrics: dict[str, float]
    samples: Samples | None

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}" if self.version is not None else self.name


@dataclass
class EvaluateReport:
    metrics: dict[str, Any]
    gates: list[GateResult]
    passed: bool
    document: dict[str, Any]
    throughput: float | None


def run_evaluate(
    spec: Spec, spec_path: Path, options: EvaluateOptions | None = None
) -> EvaluateReport:
    options = options or EvaluateOptions()
    root = Path(spec_path).resolve().parent
    run_dir = options.run_dir.resolve()
    out_dir = RunDir.at(run_dir).evaluate_dir
    model_dir = RunDir.at(run_dir).train_dir
    if options.use_registry and any(g.relative for g in spec.gates):
        _check_registry_location(spec, root)  # before a long evaluation, not after it
    manifest = verify_artifacts(model_dir)
    console.info(f"evaluating {spec.model_name} from {model_dir} (manifest verified)", step=STEP)

    started = time.perf_counter()
    y_true, outputs, kind, names, timings = _cached_predictions(
        spec, Path(spec_path), run_dir, model_dir, manifest, options
    )
    eval_seconds = time.perf_counter() - started
    if spec.evaluate.task == "classification":
        metrics, samples = classification(y_true, outputs, kind, names)
    else:
        metrics, samples = regression(y_true, outputs)
    metrics["model_size_bytes"] = int(sum(f["size"] for f in manifest["files"].values()))
    throughput = None
    if timings:
        measured = timings[1:] if len(timings) > 1 else timings
        metrics["latency_p50_ms"] = percentile_ms(measured, 50)
        metrics["latency_p95_ms"] = percentile_ms(measured, 95)
        throughput = len(y_true) / sum(timings)
        metrics["throughput_samples_per_s"] = throughput
    metrics["eval_seconds"] = round(eval_seconds, 3)

    missing: list[str] = []
    champion = _champion(spec, root, options, missing)
    seed = spec.train.seed

    def interval(metric: str) -> tuple[float, float] | None:
        if champion is None or champion.samples is None:
            return None
        return paired_bootstrap(
            metric,
            samples,
            champion.samples,
            resamples=spec.evaluate.bootstrap_samples,
            seed=seed,
        )

    results = evaluate_gates(
        spec.gates,
        metrics,
        champion_metrics=champion.metrics if champion else None,
        champion_label=champion.label if champion else None,
        interval=interval,
        missing_champion=missing[0] if missing and missing[0] else None,
        first_version=bool(missing) and not missing[0],
    )
    passed = not any(r.failed for r in results)
    document = {
        "schema_version": SCHEMA_VERSION,
        "model": spec.model_name,
        "samples": len(y_true),
        "metrics": metrics,
        "gates": [r.as_dict() for r in results],
        "passed": passed,
        "champion": ({"name": champion.name, "version": champion.version} if champion else None),
        "manifest_cache_key": manifest.get("cache_key"),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    samples.save(out_dir / SAMPLES_FILE)
    atomic_write_json(out_dir / "metrics.json", document)
    junit_path = options.junit or RunDir.at(run_dir).junit
    write_junit(
        Path(junit_path),
        render_junit(
            spec.model_name, results, metrics, champion=champion.label if champion else None
        ),
    )
    _log(metrics, results, junit_path)
    if not passed and not options.report_only:
        failed = [r for r in results if r.failed]
        raise GateFailed(
            f"{len(failed)} quality gate(s) failed: " + "; ".join(r.describe() for r in failed),
            hint=f"reports were written to {out_dir} and {junit_path}",
        )
    return EvaluateReport(metrics, results, passed, document, throughput)


def _log(metrics: dict[str, Any], results: list[GateResult], junit: Path) -> None:
    for line in metrics_table(metrics).splitlines():
        console.info(line, step=STEP)
    for result in results:
        console.info(result.describe(), step=STEP)
    console.info(f"JUnit report: {junit}", step=STEP)


# predictions --------------------------------------------------------------------------------


def _cached_predictions(
    spec: Spec,
    spec_path: Path,
    run_dir: Path,
    model_dir: Path,
    manifest: dict[str, Any],
    options: EvaluateOptions,
) -> tuple[np.ndarray, np.ndarray, str, list[str] | None, list[float]]:
    """The model's predictions, from the step cache when nothing they depend on changed
    (:mod:`lepton_ci.runtime.evaluate_cache`), else by running it (and caching them)."""
    from lepton_ci.runtime import evaluate_cache
    from lepton_ci.runtime.inputs import changes, recall, remember
    from lepton_ci.runtime.train import default_cache_dir, device_kind

    root = spec_path.resolve().parent
    if not options.cache:
        console.info("step cache disabled (--no-cache): running the model", step=STEP)
        return _predictions(spec, root, model_dir, manifest, options)
    cache_dir = (options.cache_dir or default_cache_dir()).expanduser()
    params = {**spec.evaluate.params, **options.params}
    device = device_kind(options.device or spec.train.device)
    inputs = evaluate_cache.evaluate_inputs(spec, spec_path, run_dir, model_dir, params, device)
    cached = evaluate_cache.load(cache_dir, inputs)
    if cached is not None:
        console.info(
            "step cache hit: reused the predictions of this model on this data "
            "(metrics and gates recomputed)",
            step=STEP,
        )
        report_outcome(STEP, "cache hit")
        return cached.y_true, cached.outputs, cached.kind, cached.names, cached.timings
    before = recall(cache_dir, STEP, spec.model_name)
    console.info(f"step cache miss: {changes(before, inputs)}: running the model", step=STEP)
    y_true, outputs, kind, names, timings = _predictions(spec, root, model_dir, manifest, options)
    predictions = evaluate_cache.Predictions(y_true, outputs, kind, names, timings)
    try:
        evaluate_cache.save(cache_dir, inputs, predictions)
        remember(cache_dir, STEP, spec.model_name, inputs)
    except OSError as exc:  # a read-only or full cache never fails the step
        console.info(f"step cache not written ({exc})", step=STEP)
    return y_true, outputs, kind, names, timings


def _predictions(
    spec: Spec, root: Path, model_dir: Path, manifest: dict[str, Any], options: EvaluateOptions
) -> tuple[np.ndarray, np.ndarray, str, list[str] | None, list[float]]:
    params = {**spec.evaluate.params, **options.params}
    dataset = (root / spec.evaluate.dataset).resolve() if spec.evaluate.dataset else None
    if dataset is not None and not dataset.exists():
        raise StepError(f"evaluation dataset {spec.evaluate.dataset!r} does not exist in {root}")
    if spec.evaluate.command:
        return _command_predictions(spec, root, model_dir, dataset, params, options)
    return _entrypoint_predictions(spec, root, model_dir, manifest, dataset, params, options)


def _entrypoint_predictions(
    spec: Spec,
    root: Path,
    model_dir: Path,
    manifest: dict[str, Any],
    dataset: Path | None,
    params: dict[str, Any],
    options: EvaluateOptions,
) -> tuple[np.ndarray, np.ndarray, str, list[str] | None, list[float]]:
    from lepton_ci.runtime.context import EvalContext
    from lepton_ci.runtime.entrypoints import call_user, load_entrypoint
    from lepton_ci.runtime.seeding import seed_everything, select_device

    entrypoint = spec.evaluate.entrypoint
    assert entrypoint is not None
    try:
        device = select_device(options.device or spec.train.device)
    except ImportError:
        raise MissingDependency("torch", "train") from None
    seed_everything(spec.train.seed)
    function = load_entrypoint(entrypoint, root)
    ctx = EvalContext(
        params=params,
        device=device,
        model_dir=model_dir,
        dataset=dataset,
        root=root,
        task=spec.evaluate.task,
        manifest=manifest,
    )
    result = call_user(function, f"evaluate entrypoint {entrypoint!r}", ctx)
    if not isinstance(result, EvalResult):
        raise StepError(
            f"evaluate entrypoint {entrypoint!r} returned {type(result).__name__}, "
            "not lepton_ci.runtime.EvalResult",
            hint="return EvalResult(y_true=..., batches=..., predict=...); see docs/steps.md",
        )
    y_true = to_numpy(result.y_true)
    names = list(result.class_names) if result.class_names else None
    if result.predict is not None:
        if result.batches is None:
            raise StepError("EvalResult.predict needs EvalResult.batches (the inputs, in order)")
        outputs, timings = timed_predict(result)
        return y_true, outputs, result.output_kind, names, timings
    if result.outputs is None:
        raise StepError("EvalResult needs either predict + batches or precomputed outputs")
    return y_true, to_numpy(result.outputs), result.output_kind, names, []


def timed_predict(result: EvalResult) -> tuple[np.ndarray, list[float]]:
    """Call ``predict`` per batch; each timing covers the call and the copy of its output."""
    assert result.predict is not None and result.batches is not None
    try:
        import torch

        no_grad: Any = torch.inference_mode()
    except ImportError:  # pragma: no cover - numpy-only models
        import contextlib

        no_grad = contextlib.nullcontext()
    chunks, timings = [], []
    with no_grad:
        for batch in console.progress(result.batches, desc="batches", step=STEP, every_seconds=30):
            start = time.perf_counter()
            out = to_numpy(result.predict(batch))
            timings.append(time.perf_counter() - start)
            chunks.append(out)
    if not chunks:
        raise StepError("the evaluation returned no batches")
    return np.concatenate(chunks, axis=0), timings


def _command_predictions(
    spec: Spec,
    root: Path,
    model_dir: Path,
    dataset: Path | None,
    params: dict[str, Any],
    options: EvaluateOptions,
) -> tuple[np.ndarray, np.ndarray, str, list[str] | None, list[float]]:
    command = spec.evaluate.command
    assert command is not None
    work = RunDir.at(options.run_dir.resolve()).work_dir / "evaluate"
    remove_tree(work)
    work.mkdir(parents=True)
    env = {
        **os.environ,
        "LEPTON_MODEL_DIR": str(model_dir),
        "LEPTON_DATA": str(dataset) if dataset else "",
        "LEPTON_PARAMS": json.dumps(params, sort_keys=True),
        "LEPTON_DEVICE": options.device or spec.train.device,
        "LEPTON_SEED": str(spec.train.seed),
        "LEPTON_OUTPUT_DIR": str(work),
        "LEPTON_TASK": spec.evaluate.task,
    }
    console.info(f"running evaluate command: {command}", step=STEP)
    minutes = spec.evaluate.timeout_minutes
    try:
        proc = subprocess.run(
            ["sh", "-c", command], cwd=root, env=env, timeout=minutes * 60 if minutes else None
        )
    except subprocess.TimeoutExpired:
        raise StepError(f"evaluate command timed out after {minutes} min") from None
    if proc.returncode != 0:
        raise StepError(f"evaluate command exited with {proc.returncode}: {command}")
    path = work / "predictions.npz"
    if not path.is_file():
        raise StepError(
            f"the evaluate command wrote no {path.name} to $LEPTON_OUTPUT_DIR",
            hint="save y_true and outputs (and optionally latency_ms) with numpy.savez",
        )
    with np.load(path, allow_pickle=False) as data:
        missing = {"y_true", "outputs"} - set(data.files)
        if missing:
            raise StepError(f"{path.name} lacks array(s) {', '.join(sorted(missing))}")
        kind = str(data["output_kind"]) if "output_kind" in data.files else "logits"
        names = [str(n) for n in data["class_names"]] if "class_names" in data.files else None
        timings = (
            [float(t) / 1000.0 for t in data["latency_ms"]] if "latency_ms" in data.files else []
        )
        return data["y_true"], data["outputs"], kind, names, timings


# champion -----------------------------------------------------------------------------------


def _champion(
    spec: Spec, root: Path, options: EvaluateOptions, missing: list[str]
) -> Champion | None:
    """The champion to compare with. When the registry has none, ``missing`` gets ``""`` (the
    first-ever version: relative gates skip, and say so) or why it fails closed (versions
    exist but none was promoted: never a silent skip)."""
    if options.champion_dir is not None:
        return load_champion_dir(options.champion_dir)
    if not options.use_registry or not any(g.relative for g in spec.gates):
        return None
    from lepton_ci.registry import open_registry  # a champion gate is never skipped silently

    with open_registry(spec, root) as registry:
        version = registry.champion(spec.model_name)
        if version is None:
            latest = registry.latest(spec.model_name)
            if latest is None:
                console.info(
                    f"{spec.model_name} has no version in the registry ({registry.location}): "
                    "this is its first version, relative gates skipped",
                    step=STEP,
                )
                missing.append("")
            else:
                missing.append(
                    f"no champion to compare with, although {spec.model_name} has registered "
                    f"versions (latest v{latest.version}) in {registry.location}: promote one "
                    "(`lepton-ci models promote VERSION --to champion`); relative gates fail "
                    "closed instead of being skipped"
                )
                console.info(missing[0], step=STEP)
            return None
        blob = registry.read_file(spec.model_name, version.version, SAMPLES_FILE)
    samples = Samples.load(_bytes_io(blob)) if blob else None
    if samples is None:
        console.info(
            f"champion v{version.version} has no {SAMPLES_FILE}: no confidence intervals",
            step=STEP,
        )
    metrics = dict(version.metrics or {})
    if isinstance(metrics.get("metrics"), dict):  # a whole metrics.json document was stored
        metrics = dict(metrics["metrics"])
    console.info(f"comparing with champion {spec.model_name} v{version.version}", step=STEP)
    return Champion(spec.model_name, version.version, metrics, samples)


def load_champion_dir(path: Path) -> Champion:
    """A champion from an ``evaluate/`` directory (``metrics.json`` + ``samples.npz``)."""
    path = Path(path)
    try:
        document = json.loads((path / "metrics.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise StepError(f"cannot read the champion's metrics in {path}: {exc}") from None
    samples_path = path / SAMPLES_FILE
    samples = Samples.load(samples_path) if samples_path.is_file() else None
    return Champion(document.get("model", str(path)), None, dict(document["metrics"]), samples)


def _bytes_io(blob: bytes) -> Any:
    import io

    return io.BytesIO(blob)


def _check_registry_location(spec: Spec, root: Path) -> None:
    """In CI, a workspace-local registry is an error before anything is evaluated."""
    import os

    from lepton_ci.registry import ENV_OVERRIDE, check_shared

    check_shared(spec, root, os.environ.get(ENV_OVERRIDE) or None)
