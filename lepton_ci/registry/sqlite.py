"""The embedded registry: one SQLite file, safe for parallel pipelines on one machine.

Writers take the database lock up front (``BEGIN IMMEDIATE``), so allocating the next version
number and inserting it are one atomic step; readers never block writers (WAL). A busy timeout
makes concurrent writers queue instead of failing. The file must live on a local filesystem
(WAL needs shared memory; NFS is not supported).
"""

from __future__ import annotations

import builtins
import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lepton_ci.errors import ServerError
from lepton_ci.identity import identity_digest
from lepton_ci.registry.base import (
    Deployment,
    Event,
    ModelVersion,
    Registry,
    UnknownVersion,
    check_alias,
    check_outcome,
    check_promotion,
    current_actor,
    iso,
    now,
    parse_time,
)
from lepton_ci.registry.schema import migrate

BUSY_TIMEOUT_MS = 60_000


class SqliteRegistry(Registry):
    """Registry in a SQLite file (``registry.path`` in lepton.yaml)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None
            )
            self._db.row_factory = sqlite3.Row
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute("PRAGMA foreign_keys = ON")
            with self._write() as db:
                migrate(db)
        except (sqlite3.Error, OSError) as exc:
            raise ServerError(
                f"cannot open the model registry {self.location}: {exc}",
                hint="check the path (registry.path, --registry, LEPTON_REGISTRY) and its "
                "permissions; the file must be on a local filesystem",
            ) from exc

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction holding the database's write lock from its first statement."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # -- versions -------------------------------------------------------------------------
    def register_artifact(
        self,
        name: str,
        *,
        manifest: Mapping[str, Any],
        metrics: Mapping[str, Any],
        gates: builtins.list[Mapping[str, Any]],
        git_sha: str | None,
        data_hash: str | None,
        params: Mapping[str, Any],
        files: Mapping[str, bytes] | None = None,
        manifest_digest: str | None = None,
    ) -> tuple[ModelVersion, bool]:
        manifest_json = _dump(manifest)
        digest = manifest_digest or identity_digest(manifest)
        at = iso(now())
        actor = current_actor()
        with self._write() as db:
            # insert-or-return-existing in one statement: the UNIQUE (name, artifact_digest)
            # key decides, not an earlier read (BEGIN IMMEDIATE also serialises writers)
            row = db.execute(
                "INSERT INTO versions (name, version, created_at, git_sha, data_hash, params,"
                " manifest, manifest_digest, artifact_digest, metrics, gates)"
                " SELECT ?, COALESCE(MAX(version), 0) + 1, ?,?,?,?,?,?,?,?,? FROM versions"
                " WHERE name = ?"
                " ON CONFLICT (name, artifact_digest) DO NOTHING RETURNING version",
                (
                    name,
                    at,
                    git_sha,
                    data_hash,
                    _dump(params),
                    manifest_json,
                    digest,
                    digest,
                    _dump(metrics),
                    _dump(list(gates)),
                    name,
                ),
            ).fetchone()
            if row is None:
                existing = db.execute(
                    "SELECT version FROM versions WHERE name = ? AND artifact_digest = ?",
                    (name, digest),
                ).fetchone()
                return self.get(name, int(existing[0])), False
            version = int(row[0])
            for key, data in (files or {}).items():
                db.execute(
                    "INSERT INTO files (name, version, key, data) VALUES (?,?,?,?)",
                    (name, version, key, sqlite3.Binary(data)),
                )
            self._event(
                db,
                name,
                version,
                "registered",
                actor=actor,
                details={
                    "git_sha": git_sha,
                    "manifest_digest": digest,
                    "files": sorted(files or {}),
                },
                at=at,
            )
        return self.get(name, version), True

    def get(self, name: str, version: int) -> ModelVersion:
        row = self._db.execute(
            "SELECT * FROM versions WHERE name = ? AND version = ?", (name, int(version))
        ).fetchone()
        if row is None:
            raise UnknownVersion(name, version)
        return self._version(row)

    def list(self, name: str) -> builtins.list[ModelVersion]:
        rows = self._db.execute(
            "SELECT * FROM versions WHERE name = ? ORDER BY version", (name,)
        ).fetchall()
        aliases = self._aliases(name)
        return [self._version(r, aliases) for r in rows]

    def latest(self, name: str) -> ModelVersion | None:
        row = self._db.execute(
            "SELECT * FROM versions WHERE name = ? ORDER BY version DESC LIMIT 1", (name,)
        ).fetchone()
        return None if row is None else self._version(row)

    def by_alias(self, name: str, alias: str) -> ModelVersion | None:
        row = self._db.execute(
            "SELECT v.* FROM aliases a JOIN versions v ON v.name = a.name AND v.version = a.version"
            " WHERE a.name = ? AND a.alias = ?",
            (name, alias),
        ).fetchone()
        return None if row is None else self._version(row)

    def read_file(self, name: str, version: int, key: str) -> bytes | None:
        self.get(name, version)
        row = self._db.execute(
            "SELECT data FROM files WHERE name = ? AND version = ? AND key = ?",
            (name, int(version), key),
        ).fetchone()
        return None if row is None else bytes(row[0])

    # -- aliases and images ----------------------------------------------------------------
    def set_alias(
        self,
        name: str,
        version: int,
        alias: str,
        *,
        reason: str,
        actor: str | None = None,
        forced: bool = False,
    ) -> None:
        check_alias(alias)
        target = self.get(name, version)
        check_promotion(target, alias, reason=reason, forced=forced)
        with self._write() as db:
            row = db.execute(
                "SELECT version FROM aliases WHERE name = ? AND alias = ?", (name, alias)
            ).fetchone()
            previous = None if row is None else int(row[0])
            db.execute(
                "INSERT INTO aliases (name, alias, version) VALUES (?,?,?)"
                " ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version",
                (name, alias, target.version),
            )
            self._event(
                db,
                name,
                target.version,
                "alias",
                actor=actor or current_actor(),
                reason=reason,
                details={
                    "alias": alias,
                    "previous_version": previous,
                    "forced": forced,
                    "gates_passed": target.gates_passed,
                },
            )

    def set_image(self, name: str, version: int, *, image: str, digest: str) -> None:
        self.get(name, version)
        with self._write() as db:
            db.execute(
                "UPDATE versions SET image = ?, image_digest = ? WHERE name = ? AND version = ?",
                (image, digest, name, int(version)),
            )
            self._event(
                db,
                name,
                int(version),
                "image",
                actor=current_actor(),
                details={"image": image, "digest": digest},
            )

    # -- deployments -----------------------------------------------------------------------
    def record_deployment(
        self,
        name: str,
        version: int,
        *,
        environment: str,
        image_digest: str | None,
        outcome: str,
        details: Mapping[str, Any] | None = None,
        actor: str | None = None,
    ) -> None:
        check_outcome(outcome)
        self.get(name, version)
        at = iso(now())
        who = actor or current_actor()
        with self._write() as db:
            db.execute(
                "INSERT INTO deployments (name, version, environment, image_digest, outcome, at,"
                " actor, details) VALUES (?,?,?,?,?,?,?,?)",
                (
                    name,
                    int(version),
                    environment,
                    image_digest,
                    outcome,
                    at,
                    who,
                    _dump(details or {}),
                ),
            )
            self._event(
                db,
                name,
                int(version),
                "deployment",
                actor=who,
                at=at,
                details={
                    "environment": environment,
                    "outcome": outcome,
                    "image_digest": image_digest,
                    **dict(details or {}),
                },
            )

    def deployments(self, name: str, environment: str | None = None) -> builtins.list[Deployment]:
        sql = "SELECT * FROM deployments WHERE name = ?"
        args: builtins.list[Any] = [name]
        if environment is not None:
            sql += " AND environment = ?"
            args.append(environment)
        rows = self._db.execute(sql + " ORDER BY at DESC, id DESC", args).fetchall()
        return [
            Deployment(
                name=r["name"],
                version=int(r["version"]),
                environment=r["environment"],
                image_digest=r["image_digest"],
                outcome=r["outcome"],
                at=parse_time(r["at"]),
                actor=r["actor"],
                details=json.loads(r["details"]),
            )
            for r in rows
        ]

    # -- metrics and history ---------------------------------------------------------------
    def log_metrics(
        self, name: str, version: int | None, metrics: Mapping[str, float], *, kind: str
    ) -> None:
        if version is not None:
            self.get(name, version)
        at = iso(now())
        with self._write() as db:
            db.executemany(
                "INSERT INTO metric_points (name, version, kind, key, value, at)"
                " VALUES (?,?,?,?,?,?)",
                [(name, version, kind, k, float(v), at) for k, v in metrics.items()],
            )
            self._event(
                db,
                name,
                version,
                "metrics",
                actor=current_actor(),
                at=at,
                details={"kind": kind, "count": len(metrics)},
            )

    def logged_metrics(
        self, name: str, version: int | None, kind: str | None = None
    ) -> dict[str, dict[str, float]]:
        sql = "SELECT kind, key, value FROM metric_points WHERE name = ? AND version IS ?"
        args: builtins.list[Any] = [name, version]
        if kind is not None:
            sql += " AND kind = ?"
            args.append(kind)
        out: dict[str, dict[str, float]] = {}
        for row in self._db.execute(sql + " ORDER BY id", args):
            out.setdefault(row["kind"], {})[row["key"]] = float(row["value"])
        return out

    def history(self, name: str) -> builtins.list[Event]:
        rows = self._db.execute(
            "SELECT * FROM events WHERE name = ? ORDER BY id", (name,)
        ).fetchall()
        return [
            Event(
                name=r["name"],
                version=None if r["version"] is None else int(r["version"]),
                kind=r["kind"],
                at=parse_time(r["at"]),
                actor=r["actor"],
                reason=r["reason"],
                details=json.loads(r["details"]),
            )
            for r in rows
        ]

    # -- internals -------------------------------------------------------------------------
    def _aliases(self, name: str) -> dict[int, tuple[str, ...]]:
        out: dict[int, list[str]] = {}
        for row in self._db.execute(
            "SELECT alias, version FROM aliases WHERE name = ? ORDER BY alias", (name,)
        ):
            out.setdefault(int(row["version"]), []).append(row["alias"])
        return {k: tuple(v) for k, v in out.items()}

    def _version(
        self, row: sqlite3.Row, aliases: dict[int, tuple[str, ...]] | None = None
    ) -> ModelVersion:
        if aliases is None:
            aliases = self._aliases(row["name"])
        return ModelVersion(
            name=row["name"],
            version=int(row["version"]),
            created_at=parse_time(row["created_at"]),
            git_sha=row["git_sha"],
            data_hash=row["data_hash"],
            params=json.loads(row["params"]),
            manifest=json.loads(row["manifest"]),
            manifest_digest=row["manifest_digest"],
            metrics=json.loads(row["metrics"]),
            gates=tuple(json.loads(row["gates"])),
            image=row["image"],
            image_digest=row["image_digest"],
            aliases=aliases.get(int(row["version"]), ()),
        )

    @staticmethod
    def _event(
        db: sqlite3.Connection,
        name: str,
        version: int | None,
        kind: str,
        *,
        actor: str | None = None,
        reason: str | None = None,
        details: Mapping[str, Any] | None = None,
        at: str | None = None,
    ) -> None:
        db.execute(
            "INSERT INTO events (name, version, kind, at, actor, reason, details)"
            " VALUES (?,?,?,?,?,?,?)",
            (name, version, kind, at or iso(now()), actor, reason, _dump(details or {})),
        )


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
