"""The registry's tables as SQLAlchemy Core sees them (for queries; the DDL is schema.py's).

These mirror the schema :data:`lepton_ci.registry.schema.SCHEMA_VERSION` creates; when a
migration adds a column, add it here too.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, LargeBinary, MetaData, Table, Text

metadata = MetaData()

versions = Table(
    "versions",
    metadata,
    Column("name", Text, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("created_at", Text, nullable=False),
    Column("git_sha", Text),
    Column("data_hash", Text),
    Column("params", Text, nullable=False),
    Column("manifest", Text, nullable=False),
    Column("manifest_digest", Text),
    Column("metrics", Text, nullable=False),
    Column("gates", Text, nullable=False),
    Column("image", Text),
    Column("image_digest", Text),
    Column("artifact_digest", Text),
)

files = Table(
    "files",
    metadata,
    Column("name", Text, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("data", LargeBinary, nullable=False),
)

aliases = Table(
    "aliases",
    metadata,
    Column("name", Text, primary_key=True),
    Column("alias", Text, primary_key=True),
    Column("version", Integer, nullable=False),
)

deployments = Table(
    "deployments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("environment", Text, nullable=False),
    Column("image_digest", Text),
    Column("outcome", Text, nullable=False),
    Column("at", Text, nullable=False),
    Column("actor", Text),
    Column("details", Text, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False),
    Column("version", Integer),
    Column("kind", Text, nullable=False),
    Column("at", Text, nullable=False),
    Column("actor", Text),
    Column("reason", Text),
    Column("details", Text, nullable=False),
)

metric_points = Table(
    "metric_points",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False),
    Column("version", Integer),
    Column("kind", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("value", Float(precision=53), nullable=False),
    Column("at", Text, nullable=False),
)
