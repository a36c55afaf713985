"""`lepton-ci image build|push`."""

from __future__ import annotations

from pathlib import Path

import click

from lepton_ci.cli.options import run_dir_option, spec_option


@click.group("image")
def image() -> None:
    """Build and push the model image (Dockerfile rendered from lepton.yaml)."""


@image.command("build")
@spec_option
@run_dir_option
@click.option(
    "--model-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Trained artifact (default: RUN_DIR/train).",
)
@click.option(
    "--lepton-wheel",
    "wheel",
    envvar="LEPTON_CI_WHEEL",
    help="Install lepton-ci in the image from this wheel (`auto`: build one from this "
    "checkout) instead of the package index.",
)
@click.option(
    "--offline/--online",
    default=None,
    help="pip in the build uses no index (default: offline when a wheel is given).",
)
@click.option(
    "--base",
    envvar="LEPTON_IMAGE_BASE",
    help="Base image instead of image.base (passed as the BASE_IMAGE build arg).",
)
@click.option("--no-cache", is_flag=True, help="Ignore the Docker layer cache.")
@click.option(
    "--stage/--no-stage",
    default=True,
    show_default=True,
    help="Push the image under a build tag (build-<image id>) so `image push` can run on "
    "another agent, with no Docker engine; --no-stage: keep it in this engine only.",
)
def build(
    spec_path: str,
    run_dir: str,
    model_dir: Path | None,
    wheel: str | None,
    offline: bool | None,
    no_cache: bool,
    base: str | None,
    stage: bool,
) -> None:
    """Build and tag the image; writes RUN_DIR/image/build.env."""
    from lepton_ci.image import build_image
    from lepton_ci.spec.loader import load_spec

    build_image(
        load_spec(spec_path),
        root=Path(spec_path).resolve().parent,
        run_dir=Path(run_dir),
        model_dir=model_dir,
        wheel=wheel,
        offline=offline,
        no_cache=no_cache,
        base=base,
        stage=stage,
    )


@image.command("push")
@spec_option
@run_dir_option
@click.option("--no-record", is_flag=True, help="Do not store the digest in the model registry.")
def push(spec_path: str, run_dir: str, no_record: bool) -> None:
    """Push every tag; writes RUN_DIR/image/image.env (LEPTON_IMAGE, LEPTON_IMAGE_DIGEST).

    With skopeo on PATH the tags are moved registry to registry to the digest `image build`
    staged: no Docker engine is needed here.
    Credentials: LEPTON_REGISTRY_USER / LEPTON_REGISTRY_PASSWORD, else the docker config.
    """
    from lepton_ci.image import push_image
    from lepton_ci.spec.loader import load_spec

    push_image(
        load_spec(spec_path),
        root=Path(spec_path).resolve().parent,
        run_dir=Path(run_dir),
        record=not no_record,
    )
