"""``lepton-ci train``."""

from __future__ import annotations

from pathlib import Path

import click

from lepton_ci.cli.options import run_dir_option, spec_option
from lepton_ci.runtime.params import parse_params


@click.command()
@spec_option
@run_dir_option
@click.option("--device", default=None, help="auto, cpu, cuda, cuda:N or mps (default: spec).")
@click.option("--seed", type=int, default=None, help="Override train.seed.")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a train param (VALUE is YAML: 3, 0.1, true, text). Repeatable.",
)
@click.option("--no-cache", is_flag=True, help="Train even when the step cache has the artifact.")
@click.option(
    "--cache-dir",
    envvar="LEPTON_CACHE_DIR",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Step cache shared by agents [env LEPTON_CACHE_DIR; ~/.cache/lepton-ci/steps].",
)
@click.option(
    "--nproc",
    type=click.IntRange(1),
    default=None,
    help="Data-parallel processes per node (default: train.nproc).",
)
@click.option(
    "--nnodes",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Nodes taking part; run the same command on each.",
)
@click.option(
    "--node-rank",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="This node's index; node 0 writes the artifact.",
)
@click.option(
    "--master-addr", default="127.0.0.1", show_default=True, help="Address of node 0 (multi-node)."
)
@click.option(
    "--master-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Port on node 0 (default: a free port on one node, 29500 on several).",
)
def train(
    spec_path: str,
    run_dir: str,
    device: str | None,
    seed: int | None,
    params: tuple[str, ...],
    no_cache: bool,
    cache_dir: Path | None,
    nproc: int | None,
    nnodes: int,
    node_rank: int,
    master_addr: str,
    master_port: int | None,
) -> None:
    """Train the model; write the artifact and its manifest to RUN_DIR/train."""
    from lepton_ci.runtime.train import TrainOptions, run_train
    from lepton_ci.spec import load_spec

    if node_rank >= nnodes:
        raise click.BadParameter(f"must be below --nnodes ({nnodes})", param_hint="--node-rank")
    spec = load_spec(spec_path)
    options = TrainOptions(
        run_dir=Path(run_dir),
        device=device,
        params=parse_params(params),
        seed=seed,
        cache=not no_cache,
        cache_dir=cache_dir,
        nproc=nproc,
        nnodes=nnodes,
        node_rank=node_rank,
        master_addr=master_addr,
        master_port=master_port,
    )
    report = run_train(spec, Path(spec_path), options)
    state = "reused from cache" if report.cache_hit else "trained"
    click.echo(
        f"{report.model_dir}: {state} in {report.seconds:.1f}s (key {report.cache_key[:12]})"
    )
