"""The SQL registry on SQLAlchemy Core: an embedded SQLite file, or a PostgreSQL database.

Both dialects give the same guarantees: version numbers per model are unique and gap-free under
concurrent registration, and an alias move (read the previous version, move, log it) is atomic.

* **SQLite**: every write transaction takes the database's write lock up front (``BEGIN
  IMMEDIATE``, emitted by SQLAlchemy's ``begin`` hook as its SQLite dialect documents), so
  reading the next version number and inserting it are one step; readers never block writers
  (WAL); a busy timeout makes concurrent writers queue instead of failing. The file must live on
  a local filesystem (WAL needs shared memory; NFS is not supported).
* **PostgreSQL** (psycopg 3): every write transaction first takes a transaction-scoped advisory
  lock on the model's name (``pg_advisory_xact_lock``), which serialises the writers of one
  model the way SQLite's write lock serialises all of them; readers are never blocked.
  Migrations take a database-wide advisory lock. The password comes from ``PGPASSWORD`` (or
  ``~/.pgpass``), which libpq reads itself; a password in the URL is redacted from every message.
"""

from __future__ import annotations

import builtins
import functools
import importlib.util
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    URL,
    BindParameter,
    Connection,
    Engine,
    Executable,
    RowMapping,
    bindparam,
    create_engine,
    event,
    func,
    make_url,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry

from lepton_ci.errors import LeptonError, MissingDependency, ServerError
from lepton_ci.identity import identity_digest
from lepton_ci.redaction import redact
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
from lepton_ci.registry.tables import aliases, deployments, events, metric_points, versions
from lepton_ci.registry.tables import files as _files
from lepton_ci.retrying import retry_for

BUSY_TIMEOUT_MS = 60_000
CONNECT_TIMEOUT_S = 15
#: advisory-lock keys: (class, hashtext(model)) per model; one bigint for migrations. The
#: two-int4 and the bigint key spaces never overlap (PostgreSQL's docs, "Advisory Lock
#: Functions"; src/backend/utils/adt/lockfuncs.c tags them 2 and 1)
LOCK_CLASS = 0x4C45  # "LE"
MIGRATION_LOCK = 0x4C455054_4F4E0000  # "LEPTON\0\0"
_WRITE = "lepton_write"

# Statements are built once: building and keying a Core statement per call would cost more than
# SQLite takes to run it (and the write statements run while the model's lock is held).
_LATER = ("version", "image", "image_digest")
_NAME: BindParameter[str] = bindparam("name")
_VERSION: BindParameter[int] = bindparam("version")
#: what a registration writes (the version number is computed; the image comes later)
_VERSION_COLUMNS = [c.name for c in versions.columns if c.name not in _LATER]
GET = select(versions).where(versions.c.name == _NAME, versions.c.version == _VERSION)
LIST = select(versions).where(versions.c.name == _NAME).order_by(versions.c.version)
LATEST = LIST.order_by(None).order_by(versions.c.version.desc()).limit(1)
BY_ALIAS = (
    select(versions)
    .join(aliases, (aliases.c.name == versions.c.name) & (aliases.c.version == versions.c.version))
    .where(aliases.c.name == _NAME, aliases.c.alias == bindparam("alias"))
)
BY_ARTIFACT = select(versions.c.version).where(
    versions.c.name == _NAME, versions.c.artifact_digest == bindparam("artifact_digest")
)
ALIASES = (
    select(aliases.c.alias, aliases.c.version)
    .where(aliases.c.name == _NAME)
    .order_by(aliases.c.alias)
)
ALIAS = select(aliases.c.version).where(aliases.c.name == _NAME, aliases.c.alias == bindparam("a"))
FILE = select(_files.c.data).where(
    _files.c.name == _NAME, _files.c.version == _VERSION, _files.c.key == bindparam("key")
)
SET_IMAGE = (
    versions.update()
    .where(versions.c.name == bindparam("n"), versions.c.version == bindparam("v"))
    .values(image=bindparam("image"), image_digest=bindparam("image_digest"))
)
INSERT_FILE = _files.insert()
INSERT_EVENT = events.insert()
INSERT_DEPLOYMENT = deployments.insert()
INSERT_POINT = metric_points.insert()
HISTORY = select(events).where(events.c.name == _NAME).order_by(events.c.id)


@functools.cache
def _dialect_statements(postgres: bool) -> tuple[Executable, Executable]:
    """The two upserts, in the dialect's INSERT … ON CONFLICT: (register, move alias)."""
    insert = postgresql.insert if postgres else sqlite.insert
    # insert-or-return-existing in one statement: the UNIQUE (name, artifact_digest) key decides,
    # not an earlier read; the write lock makes MAX(version) + 1 safe
    next_version = select(
        *(bindparam(c, type_=versions.c[c].type) for c in _VERSION_COLUMNS),
        func.coalesce(func.max(versions.c.version), 0) + 1,
    ).where(versions.c.name == _NAME)
    register = (
        insert(versions)
        .from_select([*_VERSION_COLUMNS, "version"], next_version)
        .on_conflict_do_nothing(index_elements=[versions.c.name, versions.c.artifact_digest])
        .returning(versions.c.version)
    )
    move = insert(aliases)
    move = move.on_conflict_do_update(
        index_elements=[aliases.c.name, aliases.c.alias], set_={"version": move.excluded.version}
    )
    return register, move


class SqlRegistry(Registry):
    """Registry in a SQLite file (a :class:`~pathlib.Path`) or a database URL (``str``:
    ``postgresql://USER@HOST[:PORT]/DB`` or ``sqlite:///PATH``)."""

    def __init__(self, location: Path | str) -> None:
        url = _url(location)
        self.postgres = url.get_backend_name() == "postgresql"
        self._password = url.password if isinstance(url.password, str) else None
        if self.postgres:
            shown = url.set(drivername="postgresql").render_as_string(hide_password=True)
            self.location = redact(shown)
        else:
            self.location = str(url.database)
        try:
            if not self.postgres:
                Path(str(url.database)).parent.mkdir(parents=True, exist_ok=True)
            self._engine = _engine(url)
            with self._write(None) as db:
                migrate(db)
        except OSError as exc:
            raise ServerError(
                f"cannot open the model registry {self.location}: {exc}", hint=self._hint()
            ) from exc

    def close(self) -> None:
        self._engine.dispose()

    # -- transactions and errors -----------------------------------------------------------
    @contextmanager
    def _write(self, name: str | None) -> Iterator[Connection]:
        """One write transaction; it holds the lock for ``name``'s versions (``None``: the
        schema) from its first statement to its commit."""
        with self._errors(), self._engine.connect() as db:
            db.execution_options(**{_WRITE: True})
            with db.begin():
                if self.postgres and name is None:
                    db.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
                elif self.postgres:
                    db.execute(
                        text("SELECT pg_advisory_xact_lock(:c, hashtext(:n))"),
                        {"c": LOCK_CLASS, "n": name},
                    )
                yield db

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._errors(), self._engine.connect() as db:
            yield db

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Database errors become :class:`ServerError` naming the (redacted) registry."""
        try:
            yield
        except SQLAlchemyError as exc:
            raise ServerError(
                self._redact(f"the model registry {self.location} failed: {_words(exc)}"),
                hint=self._hint(),
            ) from exc

    def _redact(self, message: str) -> str:
        if self._password:
            message = message.replace(self._password, "***")
        return redact(message)

    def _hint(self) -> str:
        if self.postgres:
            return (
                "check the URL (registry.path, --registry, LEPTON_REGISTRY), that the server "
                "answers, and the password (PGPASSWORD or ~/.pgpass, never in the URL)"
            )
        return (
            "check the path (registry.path, --registry, LEPTON_REGISTRY) and its "
            "permissions; the file must be on a local filesystem"
        )

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
        digest = manifest_digest or identity_digest(manifest)
        at = iso(now())
        actor = current_actor()
        row = {
            "name": name,
            "created_at": at,
            "git_sha": git_sha,
            "data_hash": data_hash,
            "params": _dump(params),
            "manifest": _dump(manifest),
            "manifest_digest": digest,
            "artifact_digest": digest,
            "metrics": _dump(metrics),
            "gates": _dump(list(gates)),
        }
        register, _move = _dialect_statements(self.postgres)
        with self._write(name) as db:
            created = db.execute(register, row).scalar()
            if created is None:
                existing = db.execute(
                    BY_ARTIFACT, {"name": name, "artifact_digest": digest}
                ).scalar_one()
                return self.get(name, int(existing)), False
            version = int(created)
            if files:
                db.execute(
                    INSERT_FILE,
                    [
                        {"name": name, "version": version, "key": k, "data": v}
                        for k, v in files.items()
                    ],
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
        with self._read() as db:
            row = db.execute(GET, {"name": name, "version": int(version)}).mappings().first()
            if row is None:
                raise UnknownVersion(name, version)
            return self._version(db, row)

    def list(self, name: str) -> builtins.list[ModelVersion]:
        with self._read() as db:
            rows = db.execute(LIST, {"name": name}).mappings().all()
            by_version = self._aliases(db, name)
            return [self._version(db, r, by_version) for r in rows]

    def latest(self, name: str) -> ModelVersion | None:
        with self._read() as db:
            row = db.execute(LATEST, {"name": name}).mappings().first()
            return None if row is None else self._version(db, row)

    def by_alias(self, name: str, alias: str) -> ModelVersion | None:
        with self._read() as db:
            row = db.execute(BY_ALIAS, {"name": name, "alias": alias}).mappings().first()
            return None if row is None else self._version(db, row)

    def read_file(self, name: str, version: int, key: str) -> bytes | None:
        self.get(name, version)
        with self._read() as db:
            data = db.execute(FILE, {"name": name, "version": int(version), "key": key}).scalar()
        return None if data is None else bytes(data)

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
        _register, move = _dialect_statements(self.postgres)
        with self._write(name) as db:
            previous = db.execute(ALIAS, {"name": name, "a": alias}).scalar()
            db.execute(move, {"name": name, "alias": alias, "version": target.version})
            self._event(
                db,
                name,
                target.version,
                "alias",
                actor=actor or current_actor(),
                reason=reason,
                details={
                    "alias": alias,
                    "previous_version": None if previous is None else int(previous),
                    "forced": forced,
                    "gates_passed": target.gates_passed,
                },
            )

    def set_image(self, name: str, version: int, *, image: str, digest: str) -> None:
        self.get(name, version)
        with self._write(name) as db:
            db.execute(
                SET_IMAGE, {"n": name, "v": int(version), "image": image, "image_digest": digest}
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
        with self._write(name) as db:
            db.execute(
                INSERT_DEPLOYMENT,
                {
                    "name": name,
                    "version": int(version),
                    "environment": environment,
                    "image_digest": image_digest,
                    "outcome": outcome,
                    "at": at,
                    "actor": who,
                    "details": _dump(details or {}),
                },
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
        query = select(deployments).where(deployments.c.name == name)
        if environment is not None:
            query = query.where(deployments.c.environment == environment)
        query = query.order_by(deployments.c.at.desc(), deployments.c.id.desc())
        with self._read() as db:
            rows = db.execute(query).mappings().all()
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
        points = [
            {"name": name, "version": version, "kind": kind, "key": k, "value": float(v), "at": at}
            for k, v in metrics.items()
        ]
        with self._write(name) as db:
            if points:
                db.execute(INSERT_POINT, points)
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
        m = metric_points.c
        query = select(m.kind, m.key, m.value).where(
            m.name == name, m.version.is_not_distinct_from(version)
        )
        if kind is not None:
            query = query.where(m.kind == kind)
        out: dict[str, dict[str, float]] = {}
        with self._read() as db:
            for row in db.execute(query.order_by(m.id)).mappings():
                out.setdefault(row["kind"], {})[row["key"]] = float(row["value"])
        return out

    def history(self, name: str) -> builtins.list[Event]:
        with self._read() as db:
            rows = db.execute(HISTORY, {"name": name}).mappings().all()
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
    @staticmethod
    def _aliases(db: Connection, name: str) -> dict[int, tuple[str, ...]]:
        out: dict[int, builtins.list[str]] = {}
        for alias, version in db.execute(ALIASES, {"name": name}):
            out.setdefault(int(version), []).append(alias)
        return {k: tuple(v) for k, v in out.items()}

    def _version(
        self, db: Connection, row: RowMapping, by_version: dict[int, tuple[str, ...]] | None = None
    ) -> ModelVersion:
        if by_version is None:
            by_version = self._aliases(db, row["name"])
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
            aliases=by_version.get(int(row["version"]), ()),
        )

    @staticmethod
    def _event(
        db: Connection,
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
            INSERT_EVENT,
            {
                "name": name,
                "version": version,
                "kind": kind,
                "at": at or iso(now()),
                "actor": actor,
                "reason": reason,
                "details": _dump(details or {}),
            },
        )


# -- engines ---------------------------------------------------------------------------------


def _url(location: Path | str) -> URL:
    """The SQLAlchemy URL of a SQLite file or a database URL (PostgreSQL via psycopg 3)."""
    if isinstance(location, Path):
        return URL.create("sqlite", database=str(location))
    try:
        url = make_url(location)
    except ArgumentError:
        raise LeptonError(f"registry location {redact(location)!r} is not a database URL") from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        if not url.database:
            raise LeptonError("registry location 'sqlite://' names no file")
        return _url(Path(url.database))
    if backend not in ("postgresql", "postgres"):
        raise LeptonError(
            f"registry location {redact(location)!r}: the SQL registry serves SQLite and "
            "PostgreSQL, not " + backend
        )
    if importlib.util.find_spec("psycopg") is None:
        raise MissingDependency("psycopg", "postgres")
    return url.set(drivername="postgresql+psycopg")


def _engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(
        url, connect_args={"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "lepton-ci"}
    )


def _sqlite_connect(dbapi: Any, _record: ConnectionPoolEntry) -> None:
    # SQLAlchemy takes over BEGIN from the sqlite3 module, as its SQLite dialect documents
    # ("Enabling Non-Legacy SQLite Transactional Modes": sqlalchemy/dialects/sqlite/base.py)
    dbapi.isolation_level = None
    cursor = dbapi.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    _wal_mode(cursor)
    for pragma in ("synchronous = NORMAL", "foreign_keys = ON"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _wal_mode(cursor: Any) -> None:
    """Switch to WAL once; a file already in WAL is left alone. Setting the mode needs a lock
    that the busy handler does not always wait for (while another connection recovers the WAL
    of a killed writer, SQLite answers "database is locked" at once), so that one case is
    retried here for up to the busy timeout."""
    import sqlite3

    def switch() -> None:
        mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            cursor.execute("PRAGMA journal_mode = WAL")

    retry_for(
        switch,
        timeout=BUSY_TIMEOUT_MS / 1000,
        interval=0.05,
        retry_if=lambda exc: isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc),
    )


def _sqlite_begin(db: Connection) -> None:
    """Writers take the write lock with their BEGIN; readers get a snapshot."""
    write = db.get_execution_options().get(_WRITE)
    db.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _words(exc: SQLAlchemyError) -> str:
    """The driver's own message, on one line, without SQLAlchemy's statement and parameters."""
    orig = getattr(exc, "orig", None)
    return " ".join(str(orig if orig is not None else exc).split())


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
