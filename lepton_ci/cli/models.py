"""``lepton-ci models``: the model registry from the command line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from lepton_ci.cli.options import registry_option, run_dir_option, spec_option

F = TypeVar("F", bound=Callable[..., Any])


def registry_options(func: F) -> F:
    """``--spec``, ``--registry`` and ``--model``: which registry and which model."""
    func = click.option(
        "--model",
        default=None,
        help="Model name in the registry. Default: the spec's project.model.",
    )(func)
    func = registry_option(
        "Registry location: SQLite file or postgresql://USER@HOST/DB (backend sql; password "
        "in PGPASSWORD), or tracking URI (backend mlflow)."
    )(func)
    return spec_option(func)


def format_option(func: F) -> F:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="Output format.",
    )(func)


def _open(spec_path: str, location: str | None, model: str | None) -> tuple[Any, str]:
    from lepton_ci.registry import open_registry
    from lepton_ci.spec.loader import load_spec

    spec = load_spec(spec_path)
    return open_registry(spec, Path("."), location), model or spec.model_name


def _open_store(spec_path: str, location: str | None) -> Any:
    from lepton_ci.spec.loader import load_spec
    from lepton_ci.store import open_store

    return open_store(load_spec(spec_path), Path("."), location)


def _policy(spec_path: str) -> Any:
    """The spec's ``registry.signing`` (else the environment's), for verification."""
    from lepton_ci.signing import policy_from_spec
    from lepton_ci.spec.loader import load_spec

    return policy_from_spec(load_spec(spec_path), Path("."))


def _emit(fmt: str, data: Any, text: Callable[[], str]) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True) if fmt == "json" else text())


@click.group("models")
def models() -> None:
    """Model registry: versions, aliases (champion), images and deployments."""


@models.command("list")
@registry_options
@format_option
def list_(spec_path: str, registry_location: str | None, model: str | None, fmt: str) -> None:
    """List the registered versions of the model."""
    from lepton_ci.registry.report import versions_table

    registry, name = _open(spec_path, registry_location, model)
    with registry:
        versions = registry.list(name)
    _emit(fmt, [v.to_dict() for v in versions], lambda: versions_table(name, versions))


@models.command("show")
@click.argument("version")
@registry_options
@format_option
def show(
    version: str, spec_path: str, registry_location: str | None, model: str | None, fmt: str
) -> None:
    """Show one version: a number, an alias (champion) or 'latest'."""
    from lepton_ci.registration import resolve
    from lepton_ci.registry.report import version_details
    from lepton_ci.runtime.manifest import PROVENANCE, SIGNATURE
    from lepton_ci.signing import bundle_key_hint
    from lepton_ci.signing.provenance import summary

    registry, name = _open(spec_path, registry_location, model)
    with registry:
        found = resolve(registry, name, version)
        raw = registry.read_file(found.name, found.version, PROVENANCE)
        bundle = registry.read_file(found.name, found.version, SIGNATURE)
    provenance = json.loads(raw) if raw else None
    data = found.to_dict() | {
        "provenance": provenance,
        "signature": {"signed": bundle is not None, "key": bundle and bundle_key_hint(bundle)},
    }
    _emit(
        fmt,
        data,
        lambda: "\n".join([version_details(found), *summary(provenance, found.image_digest)]),
    )


@models.command("register")
@registry_options
@run_dir_option
@format_option
def register(
    spec_path: str, registry_location: str | None, model: str | None, run_dir: str, fmt: str
) -> None:
    """Register the trained model of the run directory, if its evaluation passed its gates.

    The model files go into the artifact store (registry.artifacts), each distinct file once.
    """
    from lepton_ci.console import info
    from lepton_ci.registration import register_run
    from lepton_ci.signing import private_key_from_env

    registry, name = _open(spec_path, registry_location, model)
    policy = _policy(spec_path)
    key = private_key_from_env()  # the CI credential: never an option (argv is visible)
    store = _open_store(spec_path, registry_location)
    with registry:
        try:
            done = register_run(registry, run_dir, model=name, store=store, key=key, policy=policy)
        finally:
            store.close()
    mv = done.version
    if done.signer is not None:
        info(f"signed the model directory with key {done.signer} (model.sig)", step="register")
    else:
        info(
            "unsigned: no signing key in the environment (LEPTON_SIGNING_KEY / "
            "LEPTON_SIGNING_KEY_FILE); the version's files are protected by sha256 digests only",
            step="register",
        )
    if done.stored is not None:
        files = len(done.stored.record["files"])
        info(
            f"{files} model files ({_size(done.stored.total_bytes)}) in {store.location}: "
            f"{_size(done.stored.new_bytes)} new",
            step="register",
        )
    if done.reused:
        info(
            f"{name} version {mv.version} already holds this artifact: nothing new registered",
            step="register",
        )
    else:
        info(f"registered {name} version {mv.version} in {registry.location}", step="register")
    _emit(fmt, mv.to_dict(), lambda: f"{name} {mv.version}")


def _size(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 100_000 else f"{count} bytes"


@models.command("pull")
@click.argument("version")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@registry_options
def pull(
    version: str,
    directory: str | None,
    spec_path: str,
    registry_location: str | None,
    model: str | None,
) -> None:
    """Fetch VERSION (number, alias or 'latest') into DIRECTORY, verified.

    Every file is checked against the digests recorded at register, the directory against
    the registered artifact and, with registry.signing, against its signature before it
    appears. Default DIRECTORY: MODEL-vN.
    """
    from lepton_ci.console import info
    from lepton_ci.registration import resolve
    from lepton_ci.store.versions import pull as fetch

    registry, name = _open(spec_path, registry_location, model)
    policy = _policy(spec_path)
    with registry:
        found = resolve(registry, name, version)
        store = _open_store(spec_path, registry_location)
        target = Path(directory or f"{name}-v{found.version}")
        try:
            fetch(registry, store, found, target, policy)
        finally:
            store.close()
    info(f"{name} version {found.version} pulled from {store.location}, verified", step="pull")
    click.echo(str(target))


@models.command("promote")
@click.argument("version", required=False)
@click.option("--to", "alias", default="champion", show_default=True, help="Alias to set.")
@click.option("--force", is_flag=True, help="Promote to champion despite failed gates.")
@click.option("--reason", default=None, help="Why (required with --force; logged).")
@registry_options
@run_dir_option
@format_option
def promote(
    version: str | None,
    alias: str,
    force: bool,
    reason: str | None,
    spec_path: str,
    registry_location: str | None,
    model: str | None,
    run_dir: str,
    fmt: str,
) -> None:
    """Point ALIAS at VERSION (default: the version in register/model.env)."""
    from lepton_ci import registration as steps
    from lepton_ci.console import info

    registry, name = _open(spec_path, registry_location, model)
    with registry:
        if version is None:
            name, number = steps.read_model_env(run_dir)
        else:
            number = steps.resolve(registry, name, version).version
        mv = steps.promote(
            registry, model=name, version=number, alias=alias, force=force, reason=reason
        )
    note = " (forced)" if force else ""
    info(f"{alias} -> {name} version {mv.version}{note}", step="promote")
    _emit(fmt, mv.to_dict(), lambda: f"{name} {mv.version} {alias}")


@models.command("history")
@click.option(
    "--plot",
    is_flag=True,
    help="Also write a PNG of a metric over the versions (champions marked); prints its path.",
)
@click.option(
    "--metric",
    default=None,
    help="The metric to plot. Default: that of the spec's first gate, else accuracy or r2.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the plot [default: .lepton/run/report/history_METRIC.png].",
)
@registry_options
@format_option
def history(
    plot: bool,
    metric: str | None,
    output: Path | None,
    spec_path: str,
    registry_location: str | None,
    model: str | None,
    fmt: str,
) -> None:
    """Everything that happened to the model: registrations, aliases, images, deployments."""
    from lepton_ci.registry.report import history_table

    registry, name = _open(spec_path, registry_location, model)
    with registry:
        events = registry.history(name)
        if plot:
            from lepton_ci.report.history import default_output, write_history_plot

            metric = metric or _headline_metric(spec_path)
            path = write_history_plot(registry, name, metric, output or default_output(metric))
    _emit(fmt, [e.to_dict() for e in events], lambda: history_table(events))
    if plot:
        click.echo(f"plot: {path}", err=fmt == "json")


def _headline_metric(spec_path: str) -> str:
    from lepton_ci.spec.loader import load_spec

    spec = load_spec(spec_path)
    if spec.gates:
        return spec.gates[0].metric
    return "accuracy" if spec.evaluate.task == "classification" else "r2"


@models.command("deployments")
@click.option("--env", "environment", default=None, help="Only this environment.")
@click.option(
    "--at",
    "at",
    default=None,
    help="ISO time (UTC unless it has an offset): show the version serving --env then.",
)
@registry_options
@format_option
def deployments(
    environment: str | None,
    at: str | None,
    spec_path: str,
    registry_location: str | None,
    model: str | None,
    fmt: str,
) -> None:
    """Deployments, newest first; with --env and --at: which version served at that time."""
    from lepton_ci.registry.base import parse_time
    from lepton_ci.registry.report import deployments_table, version_details

    if at is not None:
        if environment is None:
            raise click.UsageError("--at needs --env")
        try:
            moment = parse_time(at)
        except ValueError:
            raise click.BadParameter(f"{at!r} is not an ISO time", param_hint="--at") from None
    registry, name = _open(spec_path, registry_location, model)
    with registry:
        if at is not None:
            assert environment is not None
            found = registry.serving_at(name, environment, moment)
            _emit(
                fmt,
                None if found is None else found.to_dict(),
                lambda: (
                    f"nothing served {environment} at {at}"
                    if found is None
                    else version_details(found)
                ),
            )
            return
        rows = registry.deployments(name, environment)
    _emit(fmt, [d.to_dict() for d in rows], lambda: deployments_table(rows))
