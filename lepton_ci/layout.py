"""Where steps read and write inside a job's workspace: the hand-off contract between jobs.

Every step command defaults to these paths, and the pipeline model hands exactly these
directories from job to job (GitLab artifacts, Jenkins stash/unstash).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

RUN_DIR = ".lepton/run"
VENV_DIR = ".lepton/venv"
PLOTS_DIR = "plots"
"""The report's plots (PNG), beside its pages in the report directory."""


@dataclass(frozen=True)
class RunLayout:
    root: PurePosixPath = PurePosixPath(RUN_DIR)  # noqa: RUF009 (immutable)

    @property
    def train_dir(self) -> PurePosixPath:
        """Model artifact files and ``manifest.json``."""
        return self.root / "train"

    @property
    def manifest(self) -> PurePosixPath:
        return self.train_dir / "manifest.json"

    @property
    def evaluate_dir(self) -> PurePosixPath:
        return self.root / "evaluate"

    @property
    def junit(self) -> PurePosixPath:
        return self.evaluate_dir / "junit.xml"

    @property
    def metrics_json(self) -> PurePosixPath:
        return self.evaluate_dir / "metrics.json"

    @property
    def register_dir(self) -> PurePosixPath:
        return self.root / "register"

    @property
    def model_env(self) -> PurePosixPath:
        """dotenv: LEPTON_MODEL_NAME, LEPTON_MODEL_VERSION."""
        return self.register_dir / "model.env"

    @property
    def image_dir(self) -> PurePosixPath:
        return self.root / "image"

    @property
    def image_build_env(self) -> PurePosixPath:
        """dotenv: LEPTON_IMAGE_ID, LEPTON_IMAGE_TAGS (written by `image build`)."""
        return self.image_dir / "build.env"

    @property
    def image_env(self) -> PurePosixPath:
        """dotenv: LEPTON_IMAGE, LEPTON_IMAGE_DIGEST (written by `image push`)."""
        return self.image_dir / "image.env"

    @property
    def deploy_dir(self) -> PurePosixPath:
        return self.root / "deploy"

    def deploy_record(self, env: str) -> PurePosixPath:
        return self.deploy_dir / f"{env}.json"

    def deploy_env(self, env: str) -> PurePosixPath:
        """dotenv: LEPTON_DEPLOY_URL (GitLab environment url)."""
        return self.deploy_dir / f"{env}.env"

    @property
    def report_dir(self) -> PurePosixPath:
        """The HTML report and its summaries (written by `lepton-ci report`)."""
        return self.root / "report"

    @property
    def report_html(self) -> PurePosixPath:
        """The self-contained HTML report (GitLab ``expose_as``, Jenkins ``publishHTML``)."""
        return self.report_dir / "index.html"

    @property
    def report_page(self) -> PurePosixPath:
        """The same report with its plots and stylesheet as files beside it, for a server whose
        Content-Security-Policy forbids inline images and styles (Jenkins' default:
        ``img-src 'self'; style-src 'self'``); Jenkins ``publishHTML``."""
        return self.report_dir / "page.html"

    @property
    def report_metrics(self) -> PurePosixPath:
        """The evaluation metrics as GitLab's ``metrics`` report (OpenMetrics text)."""
        return self.report_dir / "metrics.txt"

    @property
    def report_summary(self) -> PurePosixPath:
        """One plain-text line for the Jenkins build description."""
        return self.report_dir / "summary.txt"


LAYOUT = RunLayout()
