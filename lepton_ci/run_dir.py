"""One typed run directory (``.lepton/run``): the only way steps read and write what they hand on.

:class:`RunDir` wraps a run directory on this machine: its paths are those of
:class:`~lepton_ci.layout.RunLayout` (the hand-off contract the generated pipelines copy between
jobs), and each small dotenv file a step hands on is one frozen record with a typed reader and
writer. The files' keys and format are the pipelines' contract too (GitLab ``reports: dotenv``,
the Jenkins library), so they do not change here: one :mod:`lepton_ci.dotenv` underneath.

Readers return ``None`` for a file that is not there (each caller knows what its absence means
and says so); a file that is there but unreadable, or lacks a key its record needs, raises
:class:`RunFileError` naming the file and the step that writes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from lepton_ci.dotenv import read_dotenv, write_dotenv
from lepton_ci.errors import LeptonError
from lepton_ci.layout import RUN_DIR, RunLayout

MODEL_NAME = "LEPTON_MODEL_NAME"
MODEL_VERSION = "LEPTON_MODEL_VERSION"
IMAGE_ID = "LEPTON_IMAGE_ID"
IMAGE_TAGS = "LEPTON_IMAGE_TAGS"
IMAGE_STAGED = "LEPTON_IMAGE_STAGED"
IMAGE = "LEPTON_IMAGE"
IMAGE_DIGEST = "LEPTON_IMAGE_DIGEST"
IMAGE_REF = "LEPTON_IMAGE_REF"
DEPLOY_URL = "LEPTON_DEPLOY_URL"


class RunFileError(LeptonError):
    """A hand-off file in the run directory exists but cannot be read as its record."""


@dataclass(frozen=True)
class ModelEnv:
    """``register/model.env``: the version `lepton-ci models register` registered."""

    name: str
    version: int


@dataclass(frozen=True)
class ImageBuild:
    """``image/build.env``: what `lepton-ci image build` tagged (primary tag first) and, when
    it staged the image in the registry, ``repository@digest``."""

    tags: tuple[str, ...]
    image_id: str | None = None
    staged: str | None = None


@dataclass(frozen=True)
class ImagePush:
    """``image/image.env``: the primary tag `lepton-ci image push` pushed and its digest."""

    image: str
    digest: str | None = None
    ref: str | None = None  # repository@digest


@dataclass(frozen=True)
class RunDir:
    """A run directory; paths as :class:`RunLayout` names them, relative to ``path``."""

    path: Path = Path(RUN_DIR)

    @classmethod
    def at(cls, path: str | Path) -> RunDir:
        return cls(Path(path))

    @property
    def layout(self) -> RunLayout:
        return RunLayout(PurePosixPath(self.path.as_posix()))

    def _path(self, layout_path: PurePosixPath) -> Path:
        return Path(str(layout_path))

    # the hand-off's files and directories, as RunLayout names them

    @property
    def train_dir(self) -> Path:
        return self._path(self.layout.train_dir)

    @property
    def manifest(self) -> Path:
        return self._path(self.layout.manifest)

    @property
    def evaluate_dir(self) -> Path:
        return self._path(self.layout.evaluate_dir)

    @property
    def junit(self) -> Path:
        return self._path(self.layout.junit)

    @property
    def metrics_json(self) -> Path:
        return self._path(self.layout.metrics_json)

    @property
    def model_env(self) -> Path:
        return self._path(self.layout.model_env)

    @property
    def image_build_env(self) -> Path:
        return self._path(self.layout.image_build_env)

    @property
    def image_env(self) -> Path:
        return self._path(self.layout.image_env)

    @property
    def deploy_dir(self) -> Path:
        return self._path(self.layout.deploy_dir)

    def deploy_record(self, env: str) -> Path:
        return self._path(self.layout.deploy_record(env))

    def deploy_env(self, env: str) -> Path:
        return self._path(self.layout.deploy_env(env))

    @property
    def report_dir(self) -> Path:
        return self._path(self.layout.report_dir)

    @property
    def report_html(self) -> Path:
        return self._path(self.layout.report_html)

    @property
    def work_dir(self) -> Path:
        """Scratch space of this machine's steps (locks, staging); never handed on."""
        return self.path / ".work"

    # the records

    def read_model_env(self) -> ModelEnv | None:
        values = _read(self.model_env)
        if values is None:
            return None
        version = values.get(MODEL_VERSION, "")
        if not values.get(MODEL_NAME) or not version.isdigit():
            raise RunFileError(
                f"{self.model_env} lacks {MODEL_NAME} / {MODEL_VERSION}",
                hint="it is written by `lepton-ci models register`; do not edit it",
            )
        return ModelEnv(values[MODEL_NAME], int(version))

    def write_model_env(self, record: ModelEnv) -> Path:
        write_dotenv(self.model_env, {MODEL_NAME: record.name, MODEL_VERSION: str(record.version)})
        return self.model_env

    def read_image_build(self) -> ImageBuild | None:
        values = _read(self.image_build_env)
        if values is None:
            return None
        return ImageBuild(
            tags=tuple(t for t in values.get(IMAGE_TAGS, "").split(",") if t),
            image_id=values.get(IMAGE_ID) or None,
            staged=values.get(IMAGE_STAGED) or None,
        )

    def write_image_build(self, record: ImageBuild) -> Path:
        values = {
            IMAGE_ID: record.image_id,
            IMAGE_TAGS: ",".join(record.tags),
            IMAGE_STAGED: record.staged,
        }
        write_dotenv(self.image_build_env, {k: v for k, v in values.items() if v is not None})
        return self.image_build_env

    def read_image_push(self) -> ImagePush | None:
        values = _read(self.image_env)
        if values is None:
            return None
        if not values.get(IMAGE):
            raise RunFileError(
                f"{self.image_env} lacks {IMAGE}",
                hint="it is written by `lepton-ci image push`; do not edit it",
            )
        return ImagePush(
            values[IMAGE], values.get(IMAGE_DIGEST) or None, values.get(IMAGE_REF) or None
        )

    def write_image_push(self, record: ImagePush) -> Path:
        values = {IMAGE: record.image, IMAGE_DIGEST: record.digest, IMAGE_REF: record.ref}
        write_dotenv(self.image_env, {k: v for k, v in values.items() if v is not None})
        return self.image_env

    def read_deploy_url(self, env: str) -> str | None:
        """``deploy/<env>.env``: the URL the deploy step reports (the GitLab environment's)."""
        values = _read(self.deploy_env(env))
        return None if values is None else values.get(DEPLOY_URL) or None

    def write_deploy_url(self, env: str, url: str) -> Path:
        write_dotenv(self.deploy_env(env), {DEPLOY_URL: url})
        return self.deploy_env(env)

    def deployed_environments(self) -> list[str]:
        """The environments with a ``deploy/<env>.env`` in this run directory, by name."""
        return sorted(path.stem for path in self.deploy_dir.glob("*.env"))


def _read(path: Path) -> dict[str, str] | None:
    if not path.is_file():
        return None
    try:
        return read_dotenv(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise RunFileError(f"{path}: not a readable dotenv file ({exc})") from None
