"""``deploy`` and ``rollback``: one function each, whatever the target.

Both resolve *what* to run (a :class:`Release`), hand it to the environment's target, record
the outcome in the registry (contract 3: ``record_deployment``) and write ``deploy/<env>.json``
and ``deploy/<env>.env`` (``LEPTON_DEPLOY_URL``) to the run directory for later jobs.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lepton_ci.console import info
from lepton_ci.deploy.release import DeployFailed, Outcome, Release, pinned
from lepton_ci.deploy.smoke import EXAMPLE_FILE, find_smoke_input
from lepton_ci.errors import ExitCode, LeptonError, StepError
from lepton_ci.fsutil import atomic_write_bytes
from lepton_ci.run_dir import RunDir

if TYPE_CHECKING:
    from lepton_ci.registry import ModelVersion, Registry
    from lepton_ci.signing import Policy
    from lepton_ci.spec.model import EnvironmentSpec, Spec
    from lepton_ci.store import ArtifactStore

LOCK_TIMEOUT_SECONDS = 900
HOST_VARIABLE = "LEPTON_DEPLOY_HOST"  # address the front listens on (default: loopback)


class UnknownEnvironment(LeptonError):
    exit_code = ExitCode.USAGE


class DeployRolledBack(StepError):
    """The new version failed its checks; the old one kept serving (exit 1)."""


def environment(spec: Spec, name: str) -> EnvironmentSpec:
    for env in spec.deploy.environments:
        if env.name == name:
            return env
    known = ", ".join(e.name for e in spec.deploy.environments) or "none"
    raise UnknownEnvironment(
        f"environment {name!r} is not defined in the spec (defined: {known})",
        hint="add it under deploy.environments in lepton.yaml",
    )


def front_address(spec: Spec, env: EnvironmentSpec) -> tuple[str, int, str]:
    host = os.environ.get(HOST_VARIABLE, "127.0.0.1")
    port = env.port or spec.image.port
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return host, port, env.url or f"http://{shown}:{port}"


class UnregisteredArtifact(StepError):
    """What would be deployed is not the registry's record of the version it claims to be."""


def check_registered(
    model_dir: Path,
    registered: ModelVersion,
    registry: Registry | None = None,
    policy: Policy | None = None,
) -> str:
    """Verify ``model_dir`` (files against its manifest, with ``registry.signing`` against the
    version's signature, manifest against the registry's record of ``registered``) and return
    its artifact digest; refuse anything else (issue 8 item 4, issue 15 item 8, issue 10 item
    2): a gate-failed run beside a stale ``register/model.env``, a rewritten manifest, a
    signature by another key or none where one is required."""
    import hashlib

    from lepton_ci.runtime.manifest import MANIFEST, manifest_digest, verify_artifacts

    verify_artifacts(model_dir)
    if registry is not None:
        _check_signature(model_dir, registered, registry, policy)
    digest = manifest_digest(model_dir)
    # registries written by lepton-ci < schema 2 recorded the digest of the manifest's bytes
    legacy = "sha256:" + hashlib.sha256((model_dir / MANIFEST).read_bytes()).hexdigest()
    if registered.manifest_digest not in (digest, legacy):
        raise UnregisteredArtifact(
            f"refusing to deploy {model_dir}: it is not version {registered.version} of "
            f"{registered.name} (artifact {digest}, the registry records "
            f"{registered.manifest_digest}) — a run whose gates failed next to an older "
            "register/model.env, a newer training, or a rewritten manifest",
            hint="deploy registers versions only: run `lepton-ci models register` for this run "
            "(its gates must pass), or deploy a registered version with "
            "`lepton-ci rollback --env ENV --to VERSION`",
        )
    return digest


def _check_signature(
    model_dir: Path, registered: ModelVersion, registry: Registry, policy: Policy | None
) -> None:
    """The version's signature (kept in the registry at register) must verify ``model_dir``;
    it is then written beside the files, so the ``serve`` process checks the same one."""
    from lepton_ci.runtime.manifest import SIDE_FILES, SIGNATURE
    from lepton_ci.signing import UNSIGNED, check

    policy = policy or UNSIGNED
    bundle = registry.read_file(registered.name, registered.version, SIGNATURE)
    note = check(model_dir, policy, bundle)
    info(f"{registered.name} version {registered.version}: {note}", step="deploy")
    if bundle is None or policy.public_key is None:
        return
    for name in SIDE_FILES:
        data = (
            bundle
            if name == SIGNATURE
            else registry.read_file(registered.name, registered.version, name)
        )
        path = Path(model_dir) / name
        if data is not None and (not path.is_file() or path.read_bytes() != data):
            atomic_write_bytes(path, data)


def check_image_version(registry: Registry, found: ModelVersion, policy: Policy) -> None:
    """An image deploy has no model files here: the version's signature must be the team key's
    over the files the registry records for it (``artifacts.json``), which the image was built
    from and verified against."""
    from lepton_ci.runtime.manifest import SIGNATURE
    from lepton_ci.signing import SignatureRefused, unsigned, verify_digests
    from lepton_ci.store.versions import NoStoredFiles, file_record

    what = f"{found.name} version {found.version}"
    bundle = registry.read_file(found.name, found.version, SIGNATURE)
    if policy.public_key is None or bundle is None:
        info(f"{what}: {unsigned(policy, what, bundle is not None)}", step="deploy")
        return
    try:
        record = file_record(registry, found)
    except NoStoredFiles:
        raise SignatureRefused(
            f"refusing {what}: its signature cannot be checked, the registry records no files "
            "for it (registered without the artifact store)",
            hint="register the run again with `lepton-ci models register`",
        ) from None
    digests = {rel: e["sha256"] for rel, e in record.items()}
    signer = verify_digests(bundle, policy, digests, what)
    info(f"{what}: signature verified over its recorded files: key {signer}", step="deploy")


def _signing(spec: Spec, root: Path) -> Policy:
    from lepton_ci.signing import policy_from_spec

    return policy_from_spec(spec, Path(root))


def _registered(registry: Registry, name: str, version: int, source: Path) -> ModelVersion:
    from lepton_ci.registry import UnknownVersion

    try:
        return registry.get(name, version)
    except UnknownVersion:
        raise UnregisteredArtifact(
            f"{source} names {name} version {version}, which is not in the registry "
            f"{registry.location}",
            hint="deploy deploys registered versions only: run `lepton-ci models register` "
            "(in CI: the registry must be the one the register job wrote to)",
        ) from None


def _release_from_run_dir(
    spec: Spec, env: EnvironmentSpec, run_dir: Path, registry: Registry, root: Path = Path(".")
) -> Release:
    run = RunDir.at(run_dir)
    registered_env = run.read_model_env()
    if registered_env is None:
        raise StepError(
            f"{run.model_env} is missing: no registered model version to deploy",
            hint="run `lepton-ci models register` first (or fetch the register job's artifacts)",
        )
    name, version = registered_env.name, registered_env.version
    registered = _registered(registry, name, version, run.model_env)
    if env.target == "local":
        model_dir = run.train_dir
        if not (model_dir / "manifest.json").is_file():
            raise StepError(
                f"{model_dir} holds no trained model: the local target serves it from there",
                hint="run `lepton-ci train` first (or fetch the train job's artifacts)",
            )
        verified = check_registered(model_dir, registered, registry, _signing(spec, root))
        return Release(name, version, None, verified, model_dir)
    image = run.read_image_push()
    if image is None:
        raise StepError(
            f"{run.image_env} is missing: no pushed image to deploy",
            hint="run `lepton-ci image push` first (or fetch the image-push job's artifacts)",
        )
    check_image_version(registry, registered, _signing(spec, root))
    digest = image.digest
    if registered.image_digest and digest != registered.image_digest:
        raise UnregisteredArtifact(
            f"refusing to deploy {image.image} ({digest}): the registry records "
            f"image {registered.image_digest} for {name} version {version}",
            hint="deploy the image `lepton-ci image push` recorded for this version",
        )
    return Release(name, version, pinned(image.image, digest), digest)


def _release_from_registry(
    spec: Spec,
    env: EnvironmentSpec,
    registry: Registry,
    version: int | None,
    root: Path,
    store: ArtifactStore | None = None,
) -> Release:
    name = spec.model_name
    if version is None:
        found = registry.previous_production(name, env.name)
        if found is None:
            raise StepError(
                f"no earlier successful deployment of {name} to {env.name} to roll back to",
                hint="name a version with --to VERSION",
            )
    else:
        found = registry.get(name, version)
    return release_of(spec, env, registry, found, root, store)


def release_of(
    spec: Spec,
    env: EnvironmentSpec,
    registry: Registry,
    found: ModelVersion,
    root: Path,
    store: ArtifactStore | None = None,
) -> Release:
    """What deploys the registered version ``found`` to ``env``, without a run directory: its
    image (docker, kubernetes), or for ``local`` its files — the copy this machine served
    before, else pulled from the artifact store into ``.lepton/models/`` and verified."""
    name = found.name
    if env.target == "local":
        from lepton_ci.deploy.local import state_dir

        model_dir = state_dir(root, env.name) / "releases" / str(found.version)
        if not (model_dir / "manifest.json").is_file():
            from lepton_ci.store import open_store
            from lepton_ci.store.versions import cached

            opened = store or open_store(spec, Path(root))
            try:
                model_dir = cached(registry, opened, found, Path(root), _signing(spec, root))
            finally:
                if store is None:
                    opened.close()
        verified = check_registered(model_dir, found, registry, _signing(spec, root))
        return Release(name, found.version, None, verified, model_dir)
    if not found.image:
        raise StepError(
            f"version {found.version} of {name} has no image in the registry",
            hint="build and push it with `lepton-ci image build` / `lepton-ci image push`",
        )
    check_image_version(registry, found, _signing(spec, root))
    return Release(name, found.version, pinned(found.image, found.image_digest), found.image_digest)


def _smoke_input(spec: Spec, registry: Registry, release: Release, run_dir: Path) -> Any:
    manifest = None
    stored = None
    try:
        mv = registry.get(release.model, release.version)
        manifest = mv.manifest
        stored = registry.read_file(release.model, release.version, EXAMPLE_FILE)
    except LeptonError:
        pass
    dirs = [d for d in (release.model_dir, RunDir.at(run_dir).train_dir) if d is not None]
    return find_smoke_input(manifest, dirs, stored)


def _run_target(
    spec: Spec,
    env: EnvironmentSpec,
    release: Release,
    *,
    root: Path,
    ready_timeout: float,
    smoke_input: Any,
) -> Outcome:
    host, port, url = front_address(spec, env)
    if env.target == "kubernetes":
        from lepton_ci.deploy.kubernetes import deploy_kubernetes

        return deploy_kubernetes(spec, env, release, ready_timeout=ready_timeout)
    if env.target == "docker":
        from lepton_ci.deploy.docker_target import DockerRuntime

        runtime: Any = DockerRuntime(spec.model_name, env.name, host, port)
    else:
        from lepton_ci.deploy.local import LocalRuntime

        runtime = LocalRuntime(root, env.name, host, port)
        assert release.model_dir is not None
        release = Release(
            release.model,
            release.version,
            None,
            release.digest,
            runtime.stage(release.model_dir, release.version),
        )
    from lepton_ci.deploy.switch import switch

    front_url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    live = runtime.live()
    base = Outcome(
        env.name,
        env.target,
        release.model,
        release.version,
        release.digest,
        release.image,
        url,
        "succeeded",
    )
    if live is not None:
        base.previous = {"version": live.version, "digest": live.digest}
    if live is not None and release.digest and live.digest == release.digest:
        base.outcome = "unchanged"
        return base
    try:
        _new, _old, timings = switch(
            runtime,
            release,
            front_url=front_url,
            health_path=env.health_path,
            ready_timeout=ready_timeout,
            smoke_input=smoke_input,
        )
    except DeployFailed as exc:
        base.outcome = "rolled_back" if live is not None else "failed"
        base.reason = exc.reason
        base.details["logs"] = exc.logs[-4000:]
        return base
    base.seconds_to_ready = round(timings.ready, 3)
    base.seconds_total = round(timings.total, 3)
    base.details["smoke_tested"] = timings.smoke_tested
    return base


def _finish(outcome: Outcome, registry: Registry, run_dir: Path, *, rollback: bool) -> Outcome:
    run = RunDir.at(run_dir)
    record = asdict(outcome) | {
        "rollback": rollback,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    atomic_write_bytes(
        run.deploy_record(outcome.environment), (json.dumps(record, indent=2) + "\n").encode()
    )
    run.write_deploy_url(outcome.environment, outcome.url)
    if outcome.outcome != "unchanged":
        details = {
            k: v
            for k, v in record.items()
            if k in ("target", "url", "previous", "reason", "seconds_to_ready", "rollback")
        }
        registry.record_deployment(
            outcome.model,
            outcome.version,
            environment=outcome.environment,
            image_digest=outcome.digest if outcome.target != "local" else None,
            outcome=outcome.outcome,
            details=details,
        )
    if outcome.outcome in ("failed", "rolled_back"):
        kept = outcome.previous
        tail = outcome.details.get("logs", "")
        message = (
            f"deploy of version {outcome.version} to {outcome.environment} failed: {outcome.reason}"
        )
        if kept:
            message += f"\n  version {kept['version']} kept serving (automatic rollback)"
        if tail:
            message += "\n  last lines of the new version's log:\n    " + "\n    ".join(
                tail.splitlines()[-15:]
            )
        raise DeployRolledBack(message, hint="see deploy/" + outcome.environment + ".json")
    return outcome


def deploy(
    spec: Spec,
    env_name: str,
    *,
    run_dir: Path = Path(".lepton/run"),
    root: Path = Path("."),
    ready_timeout: float = 120.0,
    registry: Registry | None = None,
    ref: str | None = None,
    store: ArtifactStore | None = None,
) -> Outcome:
    """Deploy the version in ``run_dir`` (``register/model.env``, ``image/image.env``), or
    with ``ref`` (a number, ``v3``, an alias such as ``champion``, ``latest``) that registered
    version, no run directory needed (:func:`release_of`)."""
    env = environment(spec, env_name)
    reg = registry or _open_registry(spec, root)
    if ref is None:
        release = _release_from_run_dir(spec, env, Path(run_dir), reg, Path(root))
    else:
        from lepton_ci.registration import resolve

        found = resolve(reg, spec.model_name, ref)
        release = release_of(spec, env, reg, found, Path(root), store)
    return _deploy_release(
        spec,
        env,
        release,
        run_dir=Path(run_dir),
        root=root,
        ready_timeout=ready_timeout,
        registry=reg,
        rollback=False,
    )


def rollback(
    spec: Spec,
    env_name: str,
    *,
    to: int | None = None,
    run_dir: Path = Path(".lepton/run"),
    root: Path = Path("."),
    ready_timeout: float = 120.0,
    registry: Registry | None = None,
    store: ArtifactStore | None = None,
) -> Outcome:
    """Deploy ``to`` (default: the registry's ``previous_production``) to ``env_name``."""
    env = environment(spec, env_name)
    reg = registry or _open_registry(spec, root)
    release = _release_from_registry(spec, env, reg, to, Path(root), store)
    return _deploy_release(
        spec,
        env,
        release,
        run_dir=Path(run_dir),
        root=root,
        ready_timeout=ready_timeout,
        registry=reg,
        rollback=True,
    )


@contextlib.contextmanager
def _host_lock(model: str, env: EnvironmentSpec) -> Iterator[None]:
    """One deploy per model and environment at a time on this host (docker and local share the
    host's ports; CI serializes across agents with its resource group / lock)."""
    if env.target == "kubernetes":
        yield
        return
    from filelock import FileLock, Timeout

    path = Path(tempfile.gettempdir()) / f"lepton-deploy-{model}-{env.name}.lock"
    try:
        with FileLock(str(path), timeout=LOCK_TIMEOUT_SECONDS):
            yield
    except Timeout:
        raise StepError(
            f"another deploy to {env.name} held {path} for {LOCK_TIMEOUT_SECONDS}s",
            hint="wait for it to finish, or remove the lock file if its process is gone",
        ) from None


def _open_registry(spec: Spec, root: Path) -> Registry:
    from lepton_ci.registry import open_registry

    return open_registry(spec, Path(root))


def _deploy_release(
    spec: Spec,
    env: EnvironmentSpec,
    release: Release,
    *,
    run_dir: Path,
    root: Path,
    ready_timeout: float,
    registry: Registry | None,
    rollback: bool,
) -> Outcome:
    reg = registry or _open_registry(spec, root)
    verb = "rolling back" if rollback else "deploying"
    info(
        f"{verb} {release.model} version {release.version} to {env.name} ({env.target})",
        step="deploy",
    )
    smoke = _smoke_input(spec, reg, release, run_dir)
    with _host_lock(release.model, env):
        outcome = _run_target(
            spec, env, release, root=Path(root), ready_timeout=ready_timeout, smoke_input=smoke
        )
    if outcome.outcome == "unchanged":
        info(
            f"version {release.version} ({release.digest}) is already live: nothing to do",
            step="deploy",
        )
    elif outcome.outcome == "succeeded":
        info(
            f"{env.name} serves version {release.version} at {outcome.url} "
            f"(ready after {outcome.seconds_to_ready}s)",
            step="deploy",
        )
    return _finish(outcome, reg, run_dir, rollback=rollback)
