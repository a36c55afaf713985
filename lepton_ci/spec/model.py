"""The ``lepton.yaml`` format, defined once.

Every field is typed and documented; unknown keys are errors. Values that end up in generated
Groovy, YAML, shell lines or Dockerfiles are either constrained by a pattern here (names that
become identifiers) or escaped by the renderers (free text). The JSON Schema that editors use
(``lepton-ci schema``) is derived from these classes.
"""

from __future__ import annotations

import re
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

SLUG = r"^[a-z0-9][a-z0-9._-]{0,62}$"
ENV_NAME = r"^[a-z][a-z0-9-]{0,30}$"
GIT_REF = r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$"
ENTRYPOINT = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"
# docker reference grammar, simplified: registry host[:port], repository path, tag
REGISTRY = r"^[A-Za-z0-9][A-Za-z0-9.-]*(:[0-9]{1,5})?(/[a-z0-9._-]+)*$"
REPOSITORY = r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$"
IMAGE_REF = r"^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$"
PIP_REQUIREMENT = r"^[A-Za-z0-9][A-Za-z0-9._\-\[\],<>=!~ ;:'\"+*@/]{0,199}$"
DEBIAN_PACKAGE = r"^[a-z0-9][a-z0-9+.-]{0,99}(=[A-Za-z0-9.+~:-]+)?$"
VERSION = r"^[0-9]+(\.[0-9]+){0,3}([a-z0-9.+-]*)$"
CRON_FIELD = r"[0-9A-Za-z*/,?#LW-]+"
CRON = rf"^{CRON_FIELD}( {CRON_FIELD}){{4}}$"
HTTP_PATH = r"^/[A-Za-z0-9._~/-]*$"
CREDENTIAL_ID = r"^[A-Za-z0-9._-]{1,128}$"
TAG_GLOB = r"^[A-Za-z0-9._*-]{1,100}$"
SEGMENT = r"\.?[A-Za-z0-9_-][A-Za-z0-9._-]*"
REPO_FILE = rf"^{SEGMENT}(/{SEGMENT})*$"
DURATION = r"^[1-9][0-9]{0,5}(s|m|h|d)$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _no_boolean_for_a_number(cls, data: Any) -> Any:
        """YAML's ``true`` is no number: pydantic would take it as 1 (``version: true``)."""
        if not isinstance(data, dict):
            return data
        numeric = {
            key
            for name, field in cls.model_fields.items()
            if _numeric(field.annotation)
            for key in (name, field.alias)
            if key
        }
        wrong = [
            InitErrorDetails(
                type=PydanticCustomError("bool_number", "expected a number, not true/false"),
                loc=(key,),
                input=value,
            )
            for key, value in data.items()
            if key in numeric and isinstance(value, bool)
        ]
        if wrong:
            raise ValidationError.from_exception_data(cls.__name__, wrong)
        return data


def _numeric(annotation: Any) -> bool:
    """Whether a field's type is numbers only (int, float, numeric literals; None allowed)."""
    if annotation in (int, float):
        return True
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args)
    if origin is Annotated:
        return _numeric(args[0])
    if origin in (Union, types.UnionType):
        kinds = [a for a in args if a is not type(None)]
        return bool(kinds) and all(_numeric(a) for a in kinds)
    return False


def slugify(text: str) -> str:
    """A registry- and identifier-safe name derived from free text."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return (slug or "model")[:63]


class ProjectSpec(_Model):
    name: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="Human-readable project name (free text; escaped wherever it is rendered)."
    )
    model: Annotated[str, Field(pattern=SLUG)] | None = Field(
        None, description="Model name in the registry. Default: a slug of `name`."
    )
    default_branch: Annotated[str, Field(pattern=GIT_REF)] = Field(
        "main", description="Branch whose pipelines register, build, push and deploy."
    )
    release_tags: Annotated[str, Field(pattern=TAG_GLOB)] | None = Field(
        "v*",
        description="Git tags (a glob) whose pipelines run the whole path like the default "
        "branch: register, build, push, deploy. null: tag pipelines run nothing.",
    )

    @property
    def model_name(self) -> str:
        return self.model or slugify(self.name)


class LeptonCISpec(_Model):
    version: Annotated[str, Field(pattern=VERSION)] = Field(
        "0.1.0", description="lepton-ci version the generated pipelines pin."
    )
    package: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]+(\[[A-Za-z0-9_,-]+\])?$")] = Field(
        "lepton-ci",
        description="pip distribution installed on agents at `version`. Each job adds the extras "
        "its step needs (`[docker]` for image-build, ...); extras written here are added to every "
        "job's.",
    )
    index_url: Annotated[str, Field(pattern=r"^(https?|file)://[^\s'\"`$\\]+$")] | None = Field(
        None, description="Extra package index the agents install lepton-ci from."
    )
    agent_image: Annotated[str, Field(pattern=IMAGE_REF)] | None = Field(
        None,
        description="Container image with lepton-ci preinstalled; when set, jobs skip the install.",
    )
    install: bool = Field(
        True, description="Install lepton-ci on the agent (cached). False: it is on PATH already."
    )
    requirements: list[Annotated[str, Field(pattern=REPO_FILE)]] = Field(
        default_factory=list,
        description="The model repository's requirement files (pip `-r`), installed with "
        "lepton-ci in the jobs that run your code (train, evaluate, local deploys). Pin torch "
        "here (e.g. `torch==2.3.1+cpu` after `--extra-index-url "
        "https://download.pytorch.org/whl/cpu`): unpinned, pip picks the default, CUDA build. "
        "`lepton-ci init` lists `requirements.txt` when the repository has one.",
    )
    constraints: list[Annotated[str, Field(pattern=REPO_FILE)]] | None = Field(
        None,
        description="pip constraints files (`-c`) every job's install obeys, so your pins win over "
        "lepton-ci's own ranges. Default (null): the `requirements` files, which then may hold "
        "only `name==version` style lines (no `-e`, extras or URLs); `[]`: none.",
    )
    install_project: bool = Field(
        False,
        description="Also install the repository itself (`pip install -e .`: its pyproject.toml "
        "dependencies) in the jobs that run your code.",
    )

    @property
    def constraint_files(self) -> list[str]:
        """The constraints files in effect (the requirement files unless given)."""
        return list(self.requirements if self.constraints is None else self.constraints)


class _Runnable(_Model):
    entrypoint: Annotated[str, Field(pattern=ENTRYPOINT)] | None = Field(
        None, description="Python callable `package.module:function`, called with a context."
    )
    command: Annotated[str, Field(min_length=1)] | None = Field(
        None, description="Shell command run instead of an entrypoint (any framework)."
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Parameters handed to the entrypoint or command."
    )
    timeout_minutes: Annotated[int, Field(ge=1, le=10080)] | None = None
    exclude: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list,
        description="Globs (relative to lepton.yaml, e.g. `notebooks/*`) of files this step does "
        "not read: left out of its cache key.",
    )

    @model_validator(mode="after")
    def _one_of(self) -> _Runnable:
        if (self.entrypoint is None) == (self.command is None):
            raise ValueError("give exactly one of `entrypoint` or `command`")
        return self


class TrainSpec(_Runnable):
    seed: Annotated[int, Field(ge=0)] = 0
    data: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list, description="Training data paths, hashed into the model version."
    )
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    nproc: Annotated[int, Field(ge=1, le=1024)] = Field(
        1, description="Data-parallel worker processes per node (torchrun)."
    )
    outputs: Annotated[str, Field(min_length=1)] = Field(
        "model", description="Directory (in the run dir) the entrypoint writes its model to."
    )


class EvaluateSpec(_Runnable):
    dataset: Annotated[str, Field(min_length=1)] | None = Field(
        None, description="Evaluation data path handed to the entrypoint."
    )
    task: Literal["classification", "regression"] = "classification"
    bootstrap_samples: Annotated[int, Field(ge=0, le=100000)] = Field(
        1000, description="Paired-bootstrap resamples for the champion comparison (0: off)."
    )


GATE_TEXT = re.compile(
    r"^\s*(?P<metric>[A-Za-z_][A-Za-z0-9_.]*)\s*(?P<op>>=|<=|>|<|==)\s*"
    r"(?:(?P<champion>champion)\s*(?:(?P<sign>[+-])\s*(?P<delta>[0-9.eE+-]+))?|(?P<value>-?[0-9.eE+-]+))"
    r"\s*$"
)


class GateSpec(_Model):
    """A metric condition: absolute (`threshold`) or relative to the champion (`champion_delta`)."""

    metric: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$")]
    op: Literal[">=", "<=", ">", "<", "=="]
    threshold: float | None = None
    champion_delta: float | None = Field(
        None, description="Compare with champion's value plus this delta (e.g. -0.005)."
    )
    significant: bool = Field(
        False,
        description="Relative gates only: the bootstrap confidence interval of the difference "
        "must clear the bound, not just the point estimate.",
    )
    name: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _parse_text(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        match = GATE_TEXT.match(value)
        if not match:
            raise ValueError(
                f"cannot read gate {value!r}; write `METRIC OP NUMBER` (accuracy >= 0.95) or "
                "`METRIC OP champion [+|- NUMBER]` (accuracy >= champion - 0.005)"
            )
        out: dict[str, Any] = {"metric": match["metric"], "op": match["op"]}
        if match["champion"]:
            delta = float(match["delta"] or 0.0)
            out["champion_delta"] = -delta if match["sign"] == "-" else delta
        else:
            out["threshold"] = float(match["value"])
        return out

    @model_validator(mode="after")
    def _one_bound(self) -> GateSpec:
        if (self.threshold is None) == (self.champion_delta is None):
            raise ValueError("a gate needs exactly one of `threshold` or `champion_delta`")
        if self.significant and self.champion_delta is None:
            raise ValueError("`significant` applies only to gates relative to the champion")
        return self

    @property
    def relative(self) -> bool:
        return self.champion_delta is not None

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if self.champion_delta is None:
            return f"{self.metric} {self.op} {self.threshold:g}"
        delta = self.champion_delta
        tail = "" if delta == 0 else f" {'-' if delta < 0 else '+'} {abs(delta):g}"
        return f"{self.metric} {self.op} champion{tail}"


class ImageSpec(_Model):
    registry: Annotated[str, Field(pattern=REGISTRY)] = Field(
        "127.0.0.1:5000", description="Registry host[:port][/namespace] images are pushed to."
    )
    repository: Annotated[str, Field(pattern=REPOSITORY)] | None = Field(
        None, description="Repository in the registry. Default: the model name."
    )
    base: Annotated[str, Field(pattern=IMAGE_REF)] = Field(
        "python:3.11-slim", description="Base image of the model image."
    )
    pip: list[Annotated[str, Field(pattern=PIP_REQUIREMENT)]] = Field(
        default_factory=list, description="Extra pip requirements installed in the image."
    )
    system: list[Annotated[str, Field(pattern=DEBIAN_PACKAGE)]] = Field(
        default_factory=list, description="Extra Debian packages installed in the image."
    )
    port: Annotated[int, Field(ge=1, le=65535)] = 8080
    moving_tag: Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")] = Field(
        "latest", description="Tag that follows the default branch."
    )


class BatchingSpec(_Model):
    """Adaptive batching: concurrent requests share one forward pass (docs/image-and-serving.md)."""

    max_batch_size: Annotated[int, Field(ge=1, le=65536)] = Field(
        32, description="Most input rows per forward pass; 1 turns batching off."
    )
    max_latency_ms: Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)] = Field(
        0.0,
        description="How long the first request of a batch waits for batch-mates; 0: none "
        "(batches form only from requests already queued).",
    )
    queue_timeout_ms: Annotated[float, Field(gt=0, le=600000, allow_inf_nan=False)] = Field(
        1000.0,
        description="A request still queued after this long is answered 503 with Retry-After.",
    )


class ServeSpec(_Model):
    """How `lepton-ci serve` loads and calls the model inside the image."""

    entrypoint: Annotated[str, Field(pattern=ENTRYPOINT)] | None = Field(
        None,
        description="`module:function(model_dir) -> predictor`; default: load the artifact's "
        "torch.export program `model.pt2` (or a TorchScript `model.pt`) and call it on the "
        "request's `inputs`.",
    )
    max_batch: Annotated[int, Field(ge=1, le=65536)] = Field(
        256, description="Largest number of inputs one request may carry."
    )
    workers: Annotated[int, Field(ge=1, le=64)] = 1
    batching: BatchingSpec = Field(default_factory=BatchingSpec)


class EnvironmentSpec(_Model):
    name: Annotated[str, Field(pattern=ENV_NAME)]
    target: Literal["docker", "kubernetes", "local"] = "docker"
    strategy: Literal["rolling", "blue-green", "recreate"] = "rolling"
    replicas: Annotated[int, Field(ge=1, le=1000)] = 1
    health_path: Annotated[str, Field(pattern=HTTP_PATH)] = "/readyz"
    approval: bool = Field(False, description="Require a manual approval before deploying.")
    approvers: list[
        Annotated[str, Field(pattern=r"^[A-Za-z0-9._@-]{1,100}(/[A-Za-z0-9._-]{1,100}){0,20}$")]
    ] = Field(
        default_factory=list,
        description="Who approves: Jenkins users/groups (any one); GitLab usernames or group "
        "paths, each one approval (`lepton-ci gitlab protect`).",
    )
    approval_timeout_hours: Annotated[int, Field(ge=1, le=720)] = Field(
        168,
        description="Hours (1 to 720) an approval waits before the deployment is given up "
        "(Jenkins `input`, inside no other time limit); default 7 days.",
    )
    tier: Literal["production", "staging", "testing", "development", "other"] | None = None
    url: Annotated[str, Field(pattern=r"^https?://[^\s'\"`$\\]+$")] | None = None
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    namespace: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")] | None = None
    promote_champion: bool | None = Field(
        None, description="Promote the deployed version to champion (default: last environment)."
    )

    @property
    def effective_tier(self) -> str:
        if self.tier:
            return self.tier
        known = {"production", "staging", "testing", "development"}
        aliases = {
            "prod": "production",
            "stage": "staging",
            "test": "testing",
            "dev": "development",
        }
        return self.name if self.name in known else aliases.get(self.name, "other")


MAX_ENVIRONMENTS = 20
"""Each deploy job waits on the one before it, and Jenkins compiles a Declarative pipeline into
one JVM method of at most 64 KiB (JENKINS-37984, "Method code too large"): a bound a real
promotion path (two to five environments) never meets."""


class DeploySpec(_Model):
    environments: list[EnvironmentSpec] = Field(
        default_factory=list,
        max_length=MAX_ENVIRONMENTS,
        description=f"Environments in promotion order, at most {MAX_ENVIRONMENTS}.",
    )

    @field_validator("environments")
    @classmethod
    def _unique(cls, envs: list[EnvironmentSpec]) -> list[EnvironmentSpec]:
        seen: set[str] = set()
        for env in envs:
            if env.name in seen:
                raise ValueError(f"environment {env.name!r} is defined twice")
            seen.add(env.name)
        if sum(1 for e in envs if e.promote_champion) > 1:
            raise ValueError("at most one environment may set `promote_champion: true`")
        return envs


class ScheduleSpec(_Model):
    retrain: Annotated[str, Field(pattern=CRON)] | None = Field(
        None, description="Cron (5 fields) for scheduled retraining on the default branch."
    )
    timezone: Annotated[str, Field(pattern=r"^[A-Za-z_]+(/[A-Za-z_+-]+)*$")] = "UTC"


class PushgatewaySink(_Model):
    type: Literal["pushgateway"]
    url: Annotated[str, Field(pattern=r"^https?://[^\s'\"`$\\]+$")]
    job: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] = "lepton_ci"


class MlflowSink(_Model):
    type: Literal["mlflow"]
    tracking_uri: Annotated[str, Field(min_length=1)]
    experiment: str | None = None


Sink = Annotated[PushgatewaySink | MlflowSink, Field(discriminator="type")]


class MetricsSpec(_Model):
    sinks: list[Sink] = Field(default_factory=list)


class DriftSpec(_Model):
    """When the generated rules call the served inputs drifted from the training reference
    (docs/monitoring.md#drift)."""

    psi_threshold: Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)] = Field(
        0.1,
        description="Alert when a feature's (or the predictions') PSI against the training "
        "reference exceeds this. 0.1 is Evidently's default for its PSI test and the "
        'conventional "moderate" level; 0.2 the "significant" one.',
    )
    window: Annotated[str, Field(pattern=DURATION)] = Field(
        "1h", description="The served traffic each PSI is computed over (a PromQL range)."
    )
    for_: Annotated[str, Field(pattern=DURATION)] = Field(
        "15m",
        alias="for",
        description="How long the PSI stays above the threshold before the alert fires.",
    )
    min_samples: Annotated[int, Field(ge=1, le=10**9)] = Field(
        500,
        description="No drift alert while the window holds fewer served rows: on few rows "
        "the PSI of undrifted traffic is noise.",
    )


class MonitoringSpec(_Model):
    """The generated alert rules and dashboard (`monitoring/`, docs/monitoring.md)."""

    drift: DriftSpec = Field(default_factory=DriftSpec)


class SigningSpec(_Model):
    public_key: Annotated[str, Field(min_length=1, max_length=1000)] = Field(
        description="The team's EC P-256 public key (a PEM file, relative to the repo root) that "
        "verifies the signature `models register` makes with the private key from "
        "`LEPTON_SIGNING_KEY` / `LEPTON_SIGNING_KEY_FILE` (a CI credential, never here). "
        "`models pull`, `deploy` and `serve` refuse a model it does not verify.",
    )
    required: bool = Field(
        True,
        description="Refuse a version without a signature (`false`: an unsigned one is "
        "checked against its sha256 manifest only, and said to be unsigned).",
    )

    @field_validator("public_key")
    @classmethod
    def _not_a_private_key(cls, value: str) -> str:
        if "PRIVATE KEY" in value or value.lstrip().startswith("-----"):
            raise ValueError(
                "public_key is the path of a public key file; a key's text (and never the "
                "private key) does not go in lepton.yaml"
            )
        return value


class RegistrySpec(_Model):
    backend: Literal["sql", "sqlite", "mlflow"] = Field(
        "sqlite",
        description="`sql` (alias `sqlite`, the default): a SQLite file or a PostgreSQL "
        "database; `mlflow`: an MLflow server.",
    )
    path: str = Field(
        ".lepton/registry.db",
        description="backend sql: a SQLite file, sqlite:///PATH, or "
        "postgresql://USER@HOST[:PORT]/DB (the password goes in PGPASSWORD, never here).",
    )
    tracking_uri: str | None = Field(None, description="MLflow tracking URI (backend: mlflow).")
    shared: bool = Field(
        False,
        description="backend sqlite: `path` is a host path every CI job sees (one agent host, "
        "a mounted volume). Without it, a registry file inside the workspace is an error in CI.",
    )
    artifacts: Annotated[str, Field(min_length=1, max_length=1000)] | None = Field(
        None,
        description="Artifact store for the model files of every version (content-addressed): "
        "a directory (relative to the repo root) or `s3://BUCKET/PREFIX` (S3 or S3-compatible, "
        "needs `lepton-ci[s3]`; credentials and endpoint from the standard `AWS_*` variables), "
        "`oci://HOST[:PORT]/REPOSITORY` (a repository of an OCI registry, needs `lepton-ci[oci]`; "
        "credentials from `LEPTON_REGISTRY_USER`/`LEPTON_REGISTRY_PASSWORD`), or "
        "`mlflow://`: artifacts on the registry's MLflow server (backend mlflow). Default: "
        "`artifacts/` beside the SQLite file; `mlflow://` for backend mlflow. Env "
        "`LEPTON_ARTIFACTS` overrides it.",
    )
    signing: SigningSpec | None = Field(
        None,
        description="Sign every registered version (OpenSSF Model Signing, EC key) and verify the "
        "signature before pull, deploy and serve; see docs/registry.md#signing.",
    )

    @field_validator("artifacts")
    @classmethod
    def _artifacts(cls, value: str | None) -> str | None:
        match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", value or "")
        if value is None or match is None or value == "mlflow://":
            return value
        if match.group(1) == "oci" and re.fullmatch(
            r"oci://[A-Za-z0-9.:\[\]-]+/[a-z0-9][^?#@]*", value
        ):
            return value
        if match.group(1) != "s3" or not re.fullmatch(
            r"s3://[a-z0-9][a-z0-9.-]{1,62}(/[^?#@]*)?", value
        ):
            shown = "the URL" if "@" in value else repr(value)  # never echo credentials
            raise ValueError(
                f"{shown} is neither a directory, s3://BUCKET[/PREFIX] (a lowercase bucket "
                "name; credentials go in AWS_* environment variables, never here) nor "
                "oci://HOST[:PORT]/REPOSITORY (credentials in LEPTON_REGISTRY_USER / "
                "LEPTON_REGISTRY_PASSWORD)"
            )
        return value

    @property
    def sql(self) -> bool:
        """The SQL backend (SQLite or PostgreSQL) serves this registry."""
        return self.backend in ("sql", "sqlite")

    @model_validator(mode="after")
    def _mlflow_uri(self) -> RegistrySpec:
        if self.backend == "mlflow" and not self.tracking_uri:
            raise ValueError("backend `mlflow` needs `tracking_uri`")
        return self

    @field_validator("path")
    @classmethod
    def _no_password(cls, path: str) -> str:
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@\s]*:[^/@\s]*@", path):
            raise ValueError(
                "a password in registry.path would be committed with lepton.yaml; "
                "remove it and set PGPASSWORD (a masked CI variable / credential) instead"
            )
        return path


class AgentSpec(_Model):
    label: Annotated[str, Field(min_length=1, max_length=500)] | None = Field(
        None, description="Jenkins agent label expression."
    )
    tags: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, description="GitLab runner tags."
    )
    image: Annotated[str, Field(pattern=IMAGE_REF)] | None = Field(
        None, description="Container image the job runs in (GitLab `image:`, Jenkins docker agent)."
    )


class AgentsSpec(_Model):
    """Where each stage runs; `default` applies to stages not named."""

    default: AgentSpec = Field(default_factory=AgentSpec)
    train: AgentSpec | None = None
    evaluate: AgentSpec | None = None
    register_: AgentSpec | None = Field(None, alias="register")
    image_build: AgentSpec | None = Field(None, alias="image-build")
    image_push: AgentSpec | None = Field(None, alias="image-push")
    deploy: AgentSpec | None = None
    metrics_push: AgentSpec | None = Field(None, alias="metrics-push")
    report: AgentSpec | None = None

    def for_stage(self, stage: str) -> AgentSpec:
        """The agent of step kind ``stage``: its own entry, else ``default`` (also for a step
        that has no key here)."""
        attr = "register_" if stage == "register" else stage.replace("-", "_")
        specific: AgentSpec | None = getattr(self, attr, None)
        return specific or self.default


class CredentialsSpec(_Model):
    """Ids of credentials in the CI's store (Jenkins credential ids; GitLab CI/CD variables)."""

    registry: Annotated[str, Field(pattern=CREDENTIAL_ID)] | None = Field(
        None, description="Jenkins username/password credential for the image registry."
    )
    kubeconfig: Annotated[str, Field(pattern=CREDENTIAL_ID)] | None = Field(
        None, description="Jenkins secret-file credential holding a kubeconfig."
    )
    pushgateway: Annotated[str, Field(pattern=CREDENTIAL_ID)] | None = Field(
        None, description="Jenkins username/password credential for the Pushgateway."
    )


Platform = Literal["jenkins", "gitlab"]
PLATFORMS: tuple[Platform, ...] = ("jenkins", "gitlab")


class CISpec(_Model):
    style: Literal["library", "standalone"] = Field(
        "standalone",
        description="`library`: thin files using our Jenkins shared library and GitLab "
        "templates; `standalone`: everything inline.",
    )
    platforms: list[Platform] = Field(
        default_factory=lambda: list(PLATFORMS), description="CI files to generate."
    )
    jenkins_library: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]+$")] = Field(
        "lepton-ci", description="Name of our shared library in Jenkins' Global Pipeline Libraries."
    )
    gitlab_include: Literal["component", "template"] = Field(
        "component", description="Library style on GitLab: CI/CD component or include template."
    )
    gitlab_project: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)+$")] = Field(
        "lepton-ci/lepton-ci", description="GitLab project that hosts our components/templates."
    )
    timeout_minutes: Annotated[int, Field(ge=1, le=10080)] = Field(
        120,
        description="Time limit of each job without its own (`train/evaluate.timeout_minutes`); "
        "an approval's wait has its own (`approval_timeout_hours`).",
    )
    keep_builds: Annotated[int, Field(ge=1, le=10000)] = 30
    retry: Annotated[int, Field(ge=0, le=2)] = Field(
        1, description="Retries of a job after a runner/agent failure (not after a failing step)."
    )
    credentials: CredentialsSpec = Field(default_factory=CredentialsSpec)


class Spec(_Model):
    """Root of `lepton.yaml`."""

    version: Literal[1] = Field(1, description="Spec format version.")
    project: ProjectSpec
    lepton_ci: LeptonCISpec = Field(default_factory=LeptonCISpec, alias="lepton-ci")
    train: TrainSpec
    evaluate: EvaluateSpec
    gates: list[GateSpec] = Field(default_factory=list)
    image: ImageSpec = Field(default_factory=ImageSpec)
    serve: ServeSpec = Field(default_factory=ServeSpec)
    deploy: DeploySpec = Field(default_factory=DeploySpec)
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    metrics: MetricsSpec = Field(default_factory=MetricsSpec)
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)
    registry: RegistrySpec = Field(default_factory=RegistrySpec)
    agents: AgentsSpec = Field(default_factory=AgentsSpec)
    ci: CISpec = Field(default_factory=CISpec)

    @property
    def model_name(self) -> str:
        return self.project.model_name

    @property
    def image_repository(self) -> str:
        return self.image.repository or self.model_name

    @property
    def champion_environment(self) -> str | None:
        """The environment whose successful deploy promotes the version to champion."""
        envs = self.deploy.environments
        for env in envs:
            if env.promote_champion:
                return env.name
        if envs and envs[-1].promote_champion is not False:
            return envs[-1].name
        return None


PATTERN_HELP = {
    SLUG: "lowercase letters, digits, '.', '_' and '-', starting with a letter or digit "
    "(at most 63 characters)",
    ENV_NAME: "lowercase letters, digits and '-', starting with a letter (at most 31 characters)",
    GIT_REF: "a branch name: letters, digits, '.', '_', '/' and '-'",
    ENTRYPOINT: "a Python callable written `package.module:function`",
    REGISTRY: "a registry host with optional :port and /namespace, e.g. 127.0.0.1:5000",
    REPOSITORY: "a lowercase repository path, e.g. team/digits-cnn",
    IMAGE_REF: "an image reference such as python:3.11-slim or registry:5000/base@sha256:…",
    PIP_REQUIREMENT: "a pip requirement such as numpy>=1.26",
    DEBIAN_PACKAGE: "a Debian package name, optionally =version",
    VERSION: "a version such as 0.1.0",
    CRON: "a 5-field cron expression such as '0 3 * * 1'",
    HTTP_PATH: "an absolute URL path such as /readyz",
    CREDENTIAL_ID: "a credential id: letters, digits, '.', '_' and '-'",
    TAG_GLOB: "a tag glob such as v* (letters, digits, '.', '_', '-' and '*')",
    DURATION: "a duration such as 30s, 15m, 1h or 7d",
    REPO_FILE: "a file path relative to the repository root, such as requirements.txt "
    "(letters, digits, '.', '_', '-' and '/'; no '..', not absolute)",
}
