"""``lepton-ci train``: run the training entrypoint or command and produce a complete artifact.

Order of events: resolve params, seed and device; compute the step cache key; reuse a cached
artifact when one is complete; otherwise train into a work directory keyed by the cache key
(checkpoints there survive a kill, so a rerun resumes), write the manifest last, and rename the
finished directory to ``<run-dir>/train``. A run that dies at any point leaves no
``train/manifest.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lepton_ci import console
from lepton_ci.errors import MissingDependency, StepError
from lepton_ci.fsutil import atomic_write_json, copy_tree_atomic, remove_tree, replace_tree
from lepton_ci.gitinfo import git_info
from lepton_ci.netutil import free_port
from lepton_ci.outcome import report_outcome
from lepton_ci.run_dir import RunDir
from lepton_ci.runtime import metric_log, trainer_process
from lepton_ci.runtime.hashing import data_digests
from lepton_ci.runtime.inputs import (
    FileSet,
    Inputs,
    SourceRule,
    changes,
    key_of,
    recall,
    remember,
    summary,
)
from lepton_ci.runtime.manifest import (
    MANIFEST,
    TamperedArtifact,
    build_manifest,
    ci_url,
    verify_artifacts,
    versions,
    write_manifest,
)
from lepton_ci.spec.model import Spec

STEP = "train"
REFERENCE_FILE = "drift_reference.npz"  # lepton_ci.drift.REFERENCE_FILE, without importing numpy


def default_cache_dir() -> Path:
    """``$LEPTON_CACHE_DIR``, else ``$XDG_CACHE_HOME/lepton-ci/steps`` (``~/.cache/...``)."""
    if os.environ.get("LEPTON_CACHE_DIR"):
        return Path(os.environ["LEPTON_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "lepton-ci" / "steps"


@dataclass
class TrainOptions:
    run_dir: Path = RunDir().path
    device: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    cache: bool = True
    cache_dir: Path | None = None
    nproc: int | None = None
    nnodes: int = 1
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int | None = None


@dataclass
class TrainReport:
    model_dir: Path
    manifest: dict[str, Any] | None
    cache_key: str
    cache_hit: bool
    resumed: bool
    seconds: float


@dataclass
class _Plan:
    spec: Spec
    root: Path
    params: dict[str, Any]
    seed: int
    device: str
    data: list[Path]
    data_hash: str
    key: str
    world_size: int
    options: TrainOptions
    inputs: Inputs = field(default_factory=dict)

    @property
    def train_dir(self) -> Path:
        return RunDir.at(self.options.run_dir).train_dir

    @property
    def work_dir(self) -> Path:
        return RunDir.at(self.options.run_dir).work_dir / f"train-{self.key[:16]}"

    @property
    def lock(self) -> Path:
        """Held while the step trains (runtime/trainer_process.py)."""
        return RunDir.at(self.options.run_dir).work_dir / trainer_process.LOCK_NAME


def run_train(spec: Spec, spec_path: Path, options: TrainOptions | None = None) -> TrainReport:
    """Train (or reuse a cached artifact) and return where the complete artifact is."""
    options = options or TrainOptions()
    started = time.perf_counter()
    plan = _plan(spec, Path(spec_path), options)
    console.info(
        f"model {spec.model_name}: device {plan.device}, seed {plan.seed}, "
        f"world size {plan.world_size}, cache key {plan.key[:12]}",
        step=STEP,
    )
    remove_tree(plan.train_dir)  # an older artifact must never pass for this run's
    cache_dir = (options.cache_dir or default_cache_dir()).expanduser()
    if options.cache:
        reused = _from_cache(plan, cache_dir, started)
        if reused is not None:
            return reused
    else:
        console.info("step cache disabled (--no-cache): training", step=STEP)
    return _train(plan, cache_dir, started)


def _plan(spec: Spec, spec_path: Path, options: TrainOptions) -> _Plan:
    root = spec_path.resolve().parent
    options.run_dir = options.run_dir.resolve()
    params = {**spec.train.params, **options.params}
    seed = spec.train.seed if options.seed is None else options.seed
    requested = options.device or spec.train.device
    nproc = options.nproc or spec.train.nproc
    world = nproc * options.nnodes
    options.nproc = nproc
    data = [(root / item).resolve() for item in spec.train.data]
    inputs = train_inputs(spec, spec_path, options.run_dir, params, seed, requested, world)
    data_digest = inputs["data"].digest
    key = key_of(inputs)
    return _Plan(
        spec, root, params, seed, requested, data, data_digest, key, world, options, inputs
    )


def train_inputs(
    spec: Spec,
    spec_path: Path,
    run_dir: Path,
    params: dict[str, Any],
    seed: int,
    device: str,
    world_size: int,
) -> Inputs:
    """What training reads, by name (see :class:`~lepton_ci.runtime.inputs.SourceRule`)."""
    root = spec_path.resolve().parent
    outputs = [spec.train.outputs] if spec.train.command else []
    rule = source_rule(spec, spec_path, run_dir, spec.train.entrypoint, spec.train.command, outputs)
    return {
        "model": spec.model_name,  # the manifest names it: another model is another artifact
        "sources": rule.digests(),
        "data": FileSet(data_digests(root, spec.train.data)),
        "params": params,
        "seed": seed,
        "entry": {"entrypoint": spec.train.entrypoint, "command": spec.train.command},
        "versions": versions(),
        "device": device_kind(device),
        "world_size": world_size,
    }


def source_rule(
    spec: Spec,
    spec_path: Path,
    run_dir: Path,
    entrypoint: str | None,
    command: str | None,
    outputs: list[str] | None = None,
) -> SourceRule:
    """The code a step runs: the source rule for its entrypoint or command, leaving out the run
    directory, the spec, the training and evaluation data and the step's ``outputs``."""
    root = spec_path.resolve().parent
    dataset = [spec.evaluate.dataset] if spec.evaluate.dataset else []
    excluded = [run_dir.resolve(), spec_path.resolve()]
    excluded += [(root / item).resolve() for item in [*spec.train.data, *dataset, *(outputs or [])]]
    return SourceRule(
        root,
        entrypoint=entrypoint,
        command=command,
        excluded=tuple(excluded),
        exclude=tuple(spec.train.exclude),
    )


def device_kind(requested: str) -> str:
    """The device family for the cache key, without importing torch (a cache hit stays cheap):
    an explicit request names it; ``auto`` means cuda when NVIDIA devices are present."""
    if requested != "auto":
        return requested.split(":")[0]
    if any(Path("/dev").glob("nvidia[0-9]*")):
        return "cuda"
    return "cpu"


def _device(spec: Spec, requested: str) -> str:
    from lepton_ci.runtime.seeding import select_device

    try:
        return select_device(requested)
    except ImportError:
        if spec.train.entrypoint:
            raise MissingDependency("torch", "train") from None
        return "cpu" if requested == "auto" else requested


def _from_cache(plan: _Plan, cache_dir: Path, started: float) -> TrainReport | None:
    entry = cache_dir / plan.key
    if not (entry / MANIFEST).is_file():
        before = recall(cache_dir, STEP, plan.spec.model_name)
        console.info(
            f"step cache miss: {changes(before, plan.inputs)} ({cache_dir}): training", step=STEP
        )
        return None
    try:
        cached = verify_artifacts(entry)
    except TamperedArtifact as exc:
        console.info(f"ignoring damaged cache entry: {exc}", step=STEP)
        return None
    staging = RunDir.at(plan.options.run_dir).work_dir / f"cache-{plan.key[:16]}-{os.getpid()}"
    remove_tree(staging)
    shutil.copytree(entry, staging)
    manifest = {
        **cached,
        "git": git_info(plan.root),
        "ci_url": ci_url(),
        "durations": {**cached.get("durations", {}), "step_seconds": _since(started)},
        "cache": {"hit": True, "key": plan.key, "trained_at": cached.get("created_at")},
    }
    write_manifest(staging, manifest)
    replace_tree(staging, plan.train_dir)
    remember(cache_dir, STEP, plan.spec.model_name, plan.inputs)
    report_outcome(STEP, "cache hit")
    console.info(
        f"step cache hit: reused the artifact trained at {cached.get('created_at')} "
        f"(key {plan.key[:12]}); training skipped",
        step=STEP,
    )
    return TrainReport(plan.train_dir, manifest, plan.key, True, False, _since(started))


def _train(plan: _Plan, cache_dir: Path, started: float) -> TrainReport:
    with trainer_process.work_lock(plan.work_dir.parent):
        return _train_locked(plan, cache_dir, started)


def _train_locked(plan: _Plan, cache_dir: Path, started: float) -> TrainReport:
    work = plan.work_dir
    for stale in work.parent.glob("train-*"):
        if stale != work:  # a different key: its checkpoints belong to other code or data
            remove_tree(stale)
    output, checkpoints = work / "output", work / "checkpoints"
    resumable = checkpoints.is_dir() and any(checkpoints.iterdir())
    if not resumable:
        remove_tree(output)
    output.mkdir(parents=True, exist_ok=True)
    checkpoints.mkdir(parents=True, exist_ok=True)
    if resumable:
        console.info(f"found a checkpoint of an interrupted run in {checkpoints}", step=STEP)
    plan.device = _device(plan.spec, plan.device)
    console.info(f"training on {plan.device}", step=STEP)
    trained = time.perf_counter()
    if plan.spec.train.command:
        report = _run_command(plan, output, checkpoints)
    elif plan.world_size > 1:
        report = _run_distributed(plan, output, checkpoints, work)
    else:
        report = _run_in_process(plan, output, checkpoints)
    train_seconds = _since(trained)
    if plan.options.node_rank != 0:
        console.info("training done; node 0 writes the artifact and manifest", step=STEP)
        return TrainReport(plan.train_dir, None, plan.key, False, resumable, _since(started))
    if not any(p.name != metric_log.FILE_NAME for p in output.iterdir()):
        raise StepError(
            f"training finished but wrote no files to its output directory {output}",
            hint="save the model with ctx.save_model(...) or write to $LEPTON_OUTPUT_DIR",
        )
    drift = drift_section(output, plan.spec.evaluate.task)
    manifest = build_manifest(
        output,
        model=plan.spec.model_name,
        root=plan.root,
        data_hash=plan.data_hash,
        params=plan.params,
        seed=plan.seed,
        device=plan.device,
        durations={"train_seconds": train_seconds, "step_seconds": _since(started)},
        cache_key=plan.key,
        extra={
            "train_metrics": report.get("train_metrics", {}),
            "resumed_from": report.get("resumed_from"),
            "world_size": plan.world_size,
            "inputs": summary(plan.inputs),
            "cache": {"hit": False, "key": plan.key},
            **drift,
        },
    )
    write_manifest(output, manifest)  # last file of the artifact ...
    replace_tree(output, plan.train_dir)  # ... and the whole directory appears at once
    remove_tree(work)
    _store(plan, cache_dir)
    console.info(
        f"artifact written to {plan.train_dir} ({len(manifest['files'])} file(s), "
        f"trained in {train_seconds:.1f}s)",
        step=STEP,
    )
    return TrainReport(
        plan.train_dir,
        manifest,
        plan.key,
        False,
        report.get("resumed_from") is not None,
        _since(started),
    )


def drift_section(output: Path, task: str) -> dict[str, Any]:
    """``{"drift": ...}`` from the ``drift_reference.npz`` training left in ``output`` (none:
    ``{}``); an unusable file fails the step, naming it."""
    path = output / REFERENCE_FILE
    if not path.is_file():
        return {}
    try:  # numpy: only a step that hands over a reference needs it
        import numpy  # noqa: F401
    except ImportError:
        raise MissingDependency("numpy", "train") from None
    from lepton_ci.drift import load_sample

    reference = load_sample(path).reference(task)
    console.info(
        f"drift reference: {reference.samples} row(s) of {len(reference.features)} feature(s)"
        + (" and the predictions" if reference.predictions else ""),
        step=STEP,
    )
    return {"drift": reference.to_manifest()}


def _store(plan: _Plan, cache_dir: Path) -> None:
    if not plan.options.cache:
        return
    try:
        if copy_tree_atomic(plan.train_dir, cache_dir / plan.key):
            console.info(f"stored in the step cache {cache_dir}", step=STEP)
        remember(cache_dir, STEP, plan.spec.model_name, plan.inputs)
    except OSError as exc:
        console.info(f"could not store the artifact in the step cache: {exc}", step=STEP)


def _run_in_process(plan: _Plan, output: Path, checkpoints: Path) -> dict[str, Any]:
    from lepton_ci.runtime.context import TrainContext
    from lepton_ci.runtime.entrypoints import call_user, load_entrypoint
    from lepton_ci.runtime.seeding import seed_everything

    entrypoint = plan.spec.train.entrypoint
    assert entrypoint is not None
    function = load_entrypoint(entrypoint, plan.root)
    seed_everything(plan.seed)
    ctx = TrainContext(
        params=dict(plan.params),
        seed=plan.seed,
        device=plan.device,
        output_dir=output,
        data=plan.data,
        root=plan.root,
        checkpoint_dir=checkpoints,
    )
    call_user(function, f"train entrypoint {entrypoint!r}", ctx)
    ctx.write_metric_history()
    return {"train_metrics": ctx.last_metrics(), "resumed_from": ctx.resumed_from}


def _run_distributed(plan: _Plan, output: Path, checkpoints: Path, work: Path) -> dict[str, Any]:
    opts = plan.options
    job = {
        "entrypoint": plan.spec.train.entrypoint,
        "params": plan.params,
        "seed": plan.seed,
        "device": plan.device,
        "output_dir": str(output),
        "checkpoint_dir": str(checkpoints),
        "data": [str(p) for p in plan.data],
        "root": str(plan.root),
        "report": str(work / "report.json"),
    }
    job_path = work / "job.json"
    atomic_write_json(job_path, job)
    port = opts.master_port or (free_port() if opts.nnodes == 1 else 29500)
    argv = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc-per-node={opts.nproc}",
        f"--nnodes={opts.nnodes}",
        f"--node-rank={opts.node_rank}",
        f"--master-addr={opts.master_addr}",
        f"--master-port={port}",
        "-m",
        "lepton_ci.runtime.worker",
        str(job_path),
    ]
    backend = "nccl" if plan.device.startswith("cuda") else "gloo"
    console.info(
        f"launching {opts.nproc} process(es) on node {opts.node_rank}/{opts.nnodes} "
        f"({backend}, master {opts.master_addr}:{port})",
        step=STEP,
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plan.root), *sys.path[1:]])}
    env.setdefault("OMP_NUM_THREADS", "1")
    status = _run_group(plan, argv, env)
    if status != 0:
        raise StepError(f"distributed training failed (torchrun exited with {status})")
    report_path = work / "report.json"
    return json.loads(report_path.read_text()) if report_path.is_file() else {}


def _run_command(plan: _Plan, output: Path, checkpoints: Path) -> dict[str, Any]:
    command = plan.spec.train.command
    assert command is not None
    metrics_file = (output / metric_log.FILE_NAME).resolve()
    env = {
        **os.environ,
        "LEPTON_OUTPUT_DIR": str(output),
        "LEPTON_CHECKPOINT_DIR": str(checkpoints),
        "LEPTON_PARAMS": json.dumps(plan.params, sort_keys=True),
        "LEPTON_SEED": str(plan.seed),
        "LEPTON_DEVICE": plan.device,
        "LEPTON_DATA": os.pathsep.join(str(p) for p in plan.data),
        "LEPTON_NPROC": str(plan.options.nproc),
        "LEPTON_NNODES": str(plan.options.nnodes),
        "LEPTON_NODE_RANK": str(plan.options.node_rank),
        "LEPTON_MASTER_ADDR": plan.options.master_addr,
        "LEPTON_MASTER_PORT": str(plan.options.master_port or 29500),
        "PYTHONHASHSEED": str(plan.seed),
        metric_log.ENV_VAR: str(metrics_file),
    }
    console.info(f"running train command: {command}", step=STEP)
    status = _run_group(plan, ["sh", "-c", command], env)
    if status != 0:
        raise StepError(f"train command exited with {status}: {command}")
    points = metric_log.read_metric_log(metrics_file)
    legacy = (plan.root / plan.spec.train.outputs).resolve()
    wrote = any(p != metrics_file for p in output.resolve().iterdir())
    if not wrote and legacy.is_dir() and any(legacy.iterdir()):
        console.info(f"collecting outputs from {plan.spec.train.outputs}/", step=STEP)
        shutil.copytree(legacy, output, dirs_exist_ok=True)
    return {"train_metrics": metric_log.last_values(points)}


def _run_group(plan: _Plan, argv: list[str], env: dict[str, str]) -> int:
    """Run the trainer's processes as one group the step owns; stopped whole on a timeout."""
    try:
        return trainer_process.run_group(
            argv, cwd=plan.root, env=env, timeout=_timeout(plan), lock=plan.lock
        )
    except trainer_process.StepTimeout:
        raise StepError(
            f"training timed out after {plan.spec.train.timeout_minutes} min; its processes "
            "were stopped"
        ) from None


def _timeout(plan: _Plan) -> float | None:
    minutes = plan.spec.train.timeout_minutes
    return minutes * 60.0 if minutes else None


def _since(start: float) -> float:
    return round(time.perf_counter() - start, 3)
