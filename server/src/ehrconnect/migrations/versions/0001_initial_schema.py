"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 15:13:50.721656
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
import ehrconnect.kit.db

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('fhir_sources',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('environment', sa.String(length=16), nullable=False),
    sa.Column('normalized_base_url', sa.String(length=1000), nullable=False),
    sa.Column('fhir_base_url', sa.String(length=1000), nullable=False),
    sa.Column('name', sa.String(length=500), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=True),
    sa.Column('logo_url', sa.String(length=1000), nullable=True),
    sa.Column('portal_url', sa.String(length=1000), nullable=True),
    sa.Column('brand', sa.String(length=500), nullable=True),
    sa.Column('aliases', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('locations', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('npis', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('fhir_version', sa.String(length=16), nullable=True),
    sa.Column('search_text', sa.Text(), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('hidden', sa.Boolean(), nullable=False),
    sa.Column('oauth_client_id', sa.String(length=40), nullable=True),
    sa.Column('provenance', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fhir_sources')),
    sa.UniqueConstraint('environment', 'normalized_base_url', name=op.f('uq_fhir_sources_environment_normalized_base_url'))
    )
    with op.batch_alter_table('fhir_sources', schema=None) as batch_op:
        batch_op.create_index('ix_fhir_sources_env_id', ['environment', 'id'], unique=False)
        batch_op.create_index('ix_fhir_sources_env_type', ['environment', 'type'], unique=False)

    op.create_table('idempotency_keys',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('scope_hash', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('response_status', sa.Integer(), nullable=True),
    sa.Column('response_headers', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('response_body', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_keys')),
    sa.UniqueConstraint('scope_hash', 'key', name=op.f('uq_idempotency_keys_scope_hash_key'))
    )
    op.create_table('jobs',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('dedupe_key', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('run_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('lease_owner', sa.String(length=100), nullable=True),
    sa.Column('lease_expires_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('finished_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs'))
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index('ix_jobs_claim', ['status', 'run_at'], unique=False)
        batch_op.create_index('uq_jobs_active_dedupe_key', ['dedupe_key'], unique=True, sqlite_where=sa.text("status IN ('queued', 'running')"), postgresql_where=sa.text("status IN ('queued', 'running')"))

    op.create_table('organizations',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organizations')),
    sa.UniqueConstraint('name', name=op.f('uq_organizations_name'))
    )
    op.create_table('api_keys',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('environment', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('display_prefix', sa.String(length=32), nullable=False),
    sa.Column('api_version', sa.String(length=16), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=True),
    sa.Column('expires_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_api_keys_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash'))
    )
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_keys_organization_id'), ['organization_id'], unique=False)

    op.create_table('oauth_clients',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('environment', sa.String(length=16), nullable=False),
    sa.Column('source_id', sa.String(length=40), nullable=True),
    sa.Column('vendor_type', sa.String(length=64), nullable=True),
    sa.Column('client_id', sa.String(length=500), nullable=False),
    sa.Column('client_secret_encrypted', sa.Text(), nullable=True),
    sa.Column('auth_method', sa.String(length=32), nullable=False),
    sa.Column('scopes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('extra', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['source_id'], ['fhir_sources.id'], name=op.f('fk_oauth_clients_source_id_fhir_sources'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_clients')),
    sa.UniqueConstraint('environment', 'source_id', name=op.f('uq_oauth_clients_environment_source_id')),
    sa.UniqueConstraint('environment', 'vendor_type', name=op.f('uq_oauth_clients_environment_vendor_type'))
    )
    op.create_table('patients',
    sa.Column('pk', sa.String(length=40), nullable=False),
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('environment', sa.String(length=16), nullable=False),
    sa.Column('patient_id', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('metadata', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_patients_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_patients')),
    sa.UniqueConstraint('organization_id', 'environment', 'patient_id', name=op.f('uq_patients_organization_id_environment_patient_id'))
    )
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.create_index('ix_patients_tenant_email', ['organization_id', 'environment', 'email'], unique=False)
        batch_op.create_index('ix_patients_tenant_pk', ['organization_id', 'environment', 'pk'], unique=False)

    op.create_table('sessions',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('environment', sa.String(length=16), nullable=False),
    sa.Column('patient_pk', sa.String(length=40), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('source_id', sa.String(length=40), nullable=True),
    sa.Column('recommended_source_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('return_url', sa.Text(), nullable=False),
    sa.Column('return_button_label', sa.String(length=60), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('expires_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('completed_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('metadata', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('url_token_hash', sa.String(length=64), nullable=False),
    sa.Column('url_token_encrypted', sa.Text(), nullable=False),
    sa.Column('created_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_sessions_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['patient_pk'], ['patients.pk'], name=op.f('fk_sessions_patient_pk_patients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_id'], ['fhir_sources.id'], name=op.f('fk_sessions_source_id_fhir_sources')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sessions')),
    sa.UniqueConstraint('url_token_hash', name=op.f('uq_sessions_url_token_hash'))
    )
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.create_index('ix_sessions_patient_id', ['patient_pk', 'id'], unique=False)
        batch_op.create_index('ix_sessions_status_expires', ['status', 'expires_at'], unique=False)
        batch_op.create_index('ix_sessions_tenant_id', ['organization_id', 'environment', 'id'], unique=False)

    op.create_table('connections',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('environment', sa.String(length=16), nullable=False),
    sa.Column('patient_pk', sa.String(length=40), nullable=False),
    sa.Column('session_id', sa.String(length=40), nullable=True),
    sa.Column('source_id', sa.String(length=40), nullable=False),
    sa.Column('fhir_base_url', sa.String(length=1000), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('scopes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('failure_code', sa.String(length=64), nullable=True),
    sa.Column('failure_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('failure_detail', sa.Text(), nullable=True),
    sa.Column('fhir_patient_id', sa.String(length=200), nullable=True),
    sa.Column('access_token_encrypted', sa.Text(), nullable=True),
    sa.Column('refresh_token_encrypted', sa.Text(), nullable=True),
    sa.Column('token_expires_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('token_issued_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('token_endpoint', sa.String(length=1000), nullable=True),
    sa.Column('revocation_endpoint', sa.String(length=1000), nullable=True),
    sa.Column('oauth_client_id', sa.String(length=40), nullable=True),
    sa.Column('last_synced_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sync_status', sa.String(length=20), nullable=True),
    sa.Column('next_sync_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('full_sync_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sync_count', sa.Integer(), nullable=False),
    sa.Column('created_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_connections_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['patient_pk'], ['patients.pk'], name=op.f('fk_connections_patient_pk_patients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_connections_session_id_sessions'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['source_id'], ['fhir_sources.id'], name=op.f('fk_connections_source_id_fhir_sources')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_connections'))
    )
    with op.batch_alter_table('connections', schema=None) as batch_op:
        batch_op.create_index('ix_connections_patient_id', ['patient_pk', 'id'], unique=False)
        batch_op.create_index('ix_connections_session_id', ['session_id', 'id'], unique=False)
        batch_op.create_index('ix_connections_status_next_sync', ['status', 'next_sync_at'], unique=False)

    op.create_table('oauth_states',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('state_hash', sa.String(length=64), nullable=False),
    sa.Column('session_id', sa.String(length=40), nullable=False),
    sa.Column('source_id', sa.String(length=40), nullable=False),
    sa.Column('browser_hash', sa.String(length=64), nullable=False),
    sa.Column('code_verifier_encrypted', sa.Text(), nullable=False),
    sa.Column('redirect_uri', sa.String(length=1000), nullable=False),
    sa.Column('requested_scopes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('oauth_client_id', sa.String(length=40), nullable=True),
    sa.Column('created_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_oauth_states_session_id_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_id'], ['fhir_sources.id'], name=op.f('fk_oauth_states_source_id_fhir_sources')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_states')),
    sa.UniqueConstraint('state_hash', name=op.f('uq_oauth_states_state_hash'))
    )
    with op.batch_alter_table('oauth_states', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oauth_states_session_id'), ['session_id'], unique=False)

    if op.get_bind().dialect.name == 'postgresql':
        op.execute(sa.schema.CreateSequence(sa.Sequence('records_seq')))
    op.create_table('records',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('seq', sa.BigInteger(), sa.Sequence('records_seq'), nullable=False),
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('environment', sa.String(length=16), nullable=False),
    sa.Column('patient_pk', sa.String(length=40), nullable=False),
    sa.Column('connection_id', sa.String(length=40), nullable=False),
    sa.Column('source_id', sa.String(length=40), nullable=True),
    sa.Column('resource_type', sa.String(length=64), nullable=False),
    sa.Column('resource_id', sa.String(length=200), nullable=False),
    sa.Column('resource', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('source_last_updated', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('fetched_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['connections.id'], name=op.f('fk_records_connection_id_connections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_records_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['patient_pk'], ['patients.pk'], name=op.f('fk_records_patient_pk_patients'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_records')),
    sa.UniqueConstraint('connection_id', 'resource_type', 'resource_id', name=op.f('uq_records_connection_id_resource_type_resource_id'))
    )
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.create_index('ix_records_patient_seq', ['patient_pk', 'seq'], unique=True)
        batch_op.create_index('ix_records_patient_type_seq', ['patient_pk', 'resource_type', 'seq'], unique=False)

    op.create_table('sync_runs',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('connection_id', sa.String(length=40), nullable=False),
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('environment', sa.String(length=16), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('counts', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('errors', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('started_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', ehrconnect.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=True),
    sa.Column('job_id', sa.String(length=40), nullable=True),
    sa.Column('progress', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['connections.id'], name=op.f('fk_sync_runs_connection_id_connections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_sync_runs_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_runs'))
    )
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.create_index('ix_sync_runs_connection_id', ['connection_id', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_sync_runs_connection_id')

    op.drop_table('sync_runs')
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_index('ix_records_patient_type_seq')
        batch_op.drop_index('ix_records_patient_seq')

    op.drop_table('records')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(sa.schema.DropSequence(sa.Sequence('records_seq')))
    with op.batch_alter_table('oauth_states', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oauth_states_session_id'))

    op.drop_table('oauth_states')
    with op.batch_alter_table('connections', schema=None) as batch_op:
        batch_op.drop_index('ix_connections_status_next_sync')
        batch_op.drop_index('ix_connections_session_id')
        batch_op.drop_index('ix_connections_patient_id')

    op.drop_table('connections')
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_sessions_tenant_id')
        batch_op.drop_index('ix_sessions_status_expires')
        batch_op.drop_index('ix_sessions_patient_id')

    op.drop_table('sessions')
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.drop_index('ix_patients_tenant_pk')
        batch_op.drop_index('ix_patients_tenant_email')

    op.drop_table('patients')
    op.drop_table('oauth_clients')
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_keys_organization_id'))

    op.drop_table('api_keys')
    op.drop_table('organizations')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('uq_jobs_active_dedupe_key', sqlite_where=sa.text("status IN ('queued', 'running')"), postgresql_where=sa.text("status IN ('queued', 'running')"))
        batch_op.drop_index('ix_jobs_claim')

    op.drop_table('jobs')
    op.drop_table('idempotency_keys')
    with op.batch_alter_table('fhir_sources', schema=None) as batch_op:
        batch_op.drop_index('ix_fhir_sources_env_type')
        batch_op.drop_index('ix_fhir_sources_env_id')

    op.drop_table('fhir_sources')
