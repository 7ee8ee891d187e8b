"""catalog search: searchable names per source, FTS5 (SQLite) / tsvector + pg_trgm (PostgreSQL)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 15:40:00

The names table is plain SQL on both backends. Its search indexes are backend specific and
are not in the SQLAlchemy metadata, so migrations/env.py excludes them from autogenerate
(see `SEARCH_OBJECTS` there):

- SQLite: two external-content FTS5 tables over `fhir_source_names`, kept in sync by
  triggers: `fhir_source_names_fts` (unicode61 words, prefix indexes, for word/prefix
  matching) and `fhir_source_names_tri` (trigram tokenizer, for typo-tolerant candidates).
- PostgreSQL: a generated, weighted `search_tsv` tsvector with a GIN index, and a pg_trgm GIN
  index on `name_norm` (word_similarity for typos).
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SQLITE_FTS = [
    # Word index: the same four columns PostgreSQL weights A/A/B/C.
    """CREATE VIRTUAL TABLE fhir_source_names_fts USING fts5(
        name_norm, npi, place_text, vendor_text,
        content='fhir_source_names', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2', prefix='2 3 4')""",
    # Trigram index over the folded name only: candidates for typo-tolerant matching.
    """CREATE VIRTUAL TABLE fhir_source_names_tri USING fts5(
        name_norm, content='fhir_source_names', content_rowid='id', tokenize='trigram')""",
    """CREATE TRIGGER fhir_source_names_ai AFTER INSERT ON fhir_source_names BEGIN
        INSERT INTO fhir_source_names_fts(rowid, name_norm, npi, place_text, vendor_text)
            VALUES (new.id, new.name_norm, new.npi, new.place_text, new.vendor_text);
        INSERT INTO fhir_source_names_tri(rowid, name_norm) VALUES (new.id, new.name_norm);
    END""",
    """CREATE TRIGGER fhir_source_names_ad AFTER DELETE ON fhir_source_names BEGIN
        INSERT INTO fhir_source_names_fts(fhir_source_names_fts, rowid, name_norm, npi, place_text, vendor_text)
            VALUES ('delete', old.id, old.name_norm, old.npi, old.place_text, old.vendor_text);
        INSERT INTO fhir_source_names_tri(fhir_source_names_tri, rowid, name_norm)
            VALUES ('delete', old.id, old.name_norm);
    END""",
    """CREATE TRIGGER fhir_source_names_au AFTER UPDATE ON fhir_source_names BEGIN
        INSERT INTO fhir_source_names_fts(fhir_source_names_fts, rowid, name_norm, npi, place_text, vendor_text)
            VALUES ('delete', old.id, old.name_norm, old.npi, old.place_text, old.vendor_text);
        INSERT INTO fhir_source_names_tri(fhir_source_names_tri, rowid, name_norm)
            VALUES ('delete', old.id, old.name_norm);
        INSERT INTO fhir_source_names_fts(rowid, name_norm, npi, place_text, vendor_text)
            VALUES (new.id, new.name_norm, new.npi, new.place_text, new.vendor_text);
        INSERT INTO fhir_source_names_tri(rowid, name_norm) VALUES (new.id, new.name_norm);
    END""",
]

_POSTGRES = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    """ALTER TABLE fhir_source_names ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', name_norm), 'A')
        || setweight(to_tsvector('simple', coalesce(npi, '')), 'A')
        || setweight(to_tsvector('simple', place_text), 'B')
        || setweight(to_tsvector('simple', vendor_text), 'C')) STORED""",
    "CREATE INDEX ix_fhir_source_names_tsv ON fhir_source_names USING gin (search_tsv)",
    "CREATE INDEX ix_fhir_source_names_trgm ON fhir_source_names USING gin (name_norm gin_trgm_ops)",
]


def upgrade() -> None:
    op.create_table(
        "fhir_source_names",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source_id", sa.String(length=40), nullable=False),
        sa.Column("environment", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("name_norm", sa.String(length=500), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("npi", sa.String(length=10), nullable=True),
        sa.Column("city", sa.String(length=200), nullable=True),
        sa.Column("state", sa.String(length=2), nullable=True),
        sa.Column("postal_code", sa.String(length=10), nullable=True),
        sa.Column("place_text", sa.String(length=300), nullable=False),
        sa.Column("vendor_text", sa.String(length=300), nullable=False),
        sa.Column("dedupe_key", sa.String(length=600), nullable=False),
        sa.Column("origin", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"], ["fhir_sources.id"],
            name=op.f("fk_fhir_source_names_source_id_fhir_sources"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_source_names")),
        sa.UniqueConstraint("source_id", "dedupe_key", name=op.f("uq_fhir_source_names_source_id_dedupe_key")),
    )
    with op.batch_alter_table("fhir_source_names", schema=None) as batch_op:
        batch_op.create_index("ix_fhir_source_names_env_norm", ["environment", "name_norm"], unique=False)
        batch_op.create_index("ix_fhir_source_names_npi", ["npi"], unique=False)
        batch_op.create_index(batch_op.f("ix_fhir_source_names_source_id"), ["source_id"], unique=False)
    # Browse order (no query): alphabetical by display name within an environment.
    op.execute("CREATE INDEX ix_fhir_sources_browse ON fhir_sources (environment, lower(name), id)")

    dialect = op.get_bind().dialect.name
    statements = _SQLITE_FTS if dialect == "sqlite" else _POSTGRES if dialect == "postgresql" else []
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("fhir_source_names_ai", "fhir_source_names_ad", "fhir_source_names_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS fhir_source_names_tri")
        op.execute("DROP TABLE IF EXISTS fhir_source_names_fts")
    op.execute("DROP INDEX IF EXISTS ix_fhir_sources_browse")
    op.drop_table("fhir_source_names")
