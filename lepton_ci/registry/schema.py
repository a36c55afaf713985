"""Versioned schema of the SQLite registry.

``MIGRATIONS[i]`` upgrades schema version ``i`` to ``i + 1``. Append new migrations, never edit
old ones: a registry file written by any earlier lepton-ci opens and is upgraded in place, inside
the caller's write transaction. A file from a newer lepton-ci is refused rather than damaged.
"""

from __future__ import annotations

import sqlite3

from lepton_ci.errors import LeptonError

MIGRATIONS: tuple[str, ...] = (
    # 0 -> 1: versions, files, aliases, deployments, events, metric points
    """
    CREATE TABLE versions (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        git_sha TEXT,
        data_hash TEXT,
        params TEXT NOT NULL,
        manifest TEXT NOT NULL,
        manifest_digest TEXT,
        metrics TEXT NOT NULL,
        gates TEXT NOT NULL,
        image TEXT,
        image_digest TEXT,
        PRIMARY KEY (name, version)
    );
    CREATE TABLE files (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        key TEXT NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (name, version, key),
        FOREIGN KEY (name, version) REFERENCES versions (name, version)
    );
    CREATE TABLE aliases (
        name TEXT NOT NULL,
        alias TEXT NOT NULL,
        version INTEGER NOT NULL,
        PRIMARY KEY (name, alias),
        FOREIGN KEY (name, version) REFERENCES versions (name, version)
    );
    CREATE TABLE deployments (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        environment TEXT NOT NULL,
        image_digest TEXT,
        outcome TEXT NOT NULL,
        at TEXT NOT NULL,
        actor TEXT,
        details TEXT NOT NULL,
        FOREIGN KEY (name, version) REFERENCES versions (name, version)
    );
    CREATE INDEX deployments_by_env ON deployments (name, environment, at);
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        version INTEGER,
        kind TEXT NOT NULL,
        at TEXT NOT NULL,
        actor TEXT,
        reason TEXT,
        details TEXT NOT NULL
    );
    CREATE INDEX events_by_name ON events (name, id);
    CREATE TABLE metric_points (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        version INTEGER,
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        value REAL NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX metric_points_by_version ON metric_points (name, version, kind);
    """,
    # 1 -> 2: one version per artifact, enforced by the database (issue 15 item 9). Versions
    # registered twice by older lepton-ci keep their rows; only the first of each gets the key.
    """
    ALTER TABLE versions ADD COLUMN artifact_digest TEXT;
    UPDATE versions SET artifact_digest = manifest_digest
        WHERE manifest_digest IS NOT NULL AND version = (
            SELECT MIN(v2.version) FROM versions v2
            WHERE v2.name = versions.name AND v2.manifest_digest = versions.manifest_digest);
    CREATE UNIQUE INDEX versions_by_artifact ON versions (name, artifact_digest);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(db: sqlite3.Connection) -> int:
    """Bring the schema to :data:`SCHEMA_VERSION` (call inside a write transaction)."""
    db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
    current = int(row[0] or 0)
    if current > SCHEMA_VERSION:
        raise LeptonError(
            f"the model registry has schema version {current}, newer than this lepton-ci "
            f"understands ({SCHEMA_VERSION})",
            hint="upgrade lepton-ci (the pipeline pins its version in lepton.yaml)",
        )
    for target in range(current, SCHEMA_VERSION):
        for statement in MIGRATIONS[target].split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute("INSERT INTO schema_version (version) VALUES (?)", (target + 1,))
    return SCHEMA_VERSION
