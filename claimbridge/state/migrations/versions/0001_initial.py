"""initial state schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_head'))
    )
    op.create_table('audit_log',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('pipeline', sa.String(length=120), nullable=False),
    sa.Column('run_id', sa.String(length=36), nullable=True),
    sa.Column('action', sa.String(length=50), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_log'))
    )
    op.create_table('cases',
    sa.Column('case_key', sa.String(length=40), nullable=False),
    sa.Column('pipeline', sa.String(length=120), nullable=False),
    sa.Column('agency', sa.String(length=120), nullable=False),
    sa.Column('debtor_key', sa.String(length=200), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('total_principal', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('claim_count', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('agency_ref', sa.String(length=200), nullable=True),
    sa.Column('quality_score', sa.Integer(), nullable=True),
    sa.Column('forced', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('case_key', name=op.f('pk_cases'))
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cases_agency_agency_ref'), ['agency', 'agency_ref'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_pipeline_status'), ['pipeline', 'status'], unique=False)

    op.create_table('claims',
    sa.Column('pipeline', sa.String(length=120), nullable=False),
    sa.Column('invoice_number', sa.String(length=200), nullable=False),
    sa.Column('source_system', sa.String(length=120), nullable=False),
    sa.Column('source_company', sa.String(length=120), nullable=False),
    sa.Column('source_record_id', sa.String(length=200), nullable=False),
    sa.Column('debtor_id', sa.String(length=200), nullable=False),
    sa.Column('debtor_key', sa.String(length=200), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('original_amount', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('remaining_principal', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('invoice_date', sa.Date(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('kid', sa.String(length=40), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('decision', sa.Text(), nullable=False),
    sa.Column('decided_on', sa.Date(), nullable=False),
    sa.Column('review_on', sa.Date(), nullable=True),
    sa.Column('limitation_on', sa.Date(), nullable=True),
    sa.Column('approved_on', sa.Date(), nullable=True),
    sa.Column('approved_by', sa.String(length=120), nullable=True),
    sa.Column('case_key', sa.String(length=40), nullable=True),
    sa.Column('handed_over_on', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('run_id', sa.String(length=36), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('pipeline', 'invoice_number', name=op.f('pk_claims'))
    )
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_claims_pipeline_case_key'), ['pipeline', 'case_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_claims_pipeline_debtor_key'), ['pipeline', 'debtor_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_claims_pipeline_kid'), ['pipeline', 'kid'], unique=False)
        batch_op.create_index(batch_op.f('ix_claims_pipeline_limitation_on'), ['pipeline', 'limitation_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_claims_pipeline_review_on'), ['pipeline', 'review_on'], unique=False)

    op.create_table('cursors',
    sa.Column('pipeline', sa.String(length=120), nullable=False),
    sa.Column('stream', sa.String(length=120), nullable=False),
    sa.Column('cursor', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('pipeline', 'stream', name=op.f('pk_cursors'))
    )
    op.create_table('events',
    sa.Column('event_id', sa.String(length=200), nullable=False),
    sa.Column('case_key', sa.String(length=40), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('direction', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=True),
    sa.Column('agency_ref', sa.String(length=200), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_events'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_events_case_key_at'), ['case_key', 'at'], unique=False)

    op.create_table('id_map',
    sa.Column('pipeline', sa.String(length=120), nullable=False),
    sa.Column('source_kind', sa.String(length=20), nullable=False),
    sa.Column('source_id', sa.String(length=200), nullable=False),
    sa.Column('case_key', sa.String(length=40), nullable=False),
    sa.Column('agency_ref', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('pipeline', 'source_kind', 'source_id', 'case_key', name=op.f('pk_id_map'))
    )
    with op.batch_alter_table('id_map', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_id_map_case_key'), ['case_key'], unique=False)

    op.create_table('leases',
    sa.Column('pipeline', sa.String(length=120), nullable=False),
    sa.Column('holder', sa.String(length=100), nullable=False),
    sa.Column('acquired_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('pipeline', name=op.f('pk_leases'))
    )
    op.create_table('outbox',
    sa.Column('delivery_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('pipeline', sa.String(length=120), nullable=False),
    sa.Column('agency', sa.String(length=120), nullable=False),
    sa.Column('case_key', sa.String(length=40), nullable=False),
    sa.Column('idempotency_key', sa.String(length=80), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('payload', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('agency_ref', sa.String(length=200), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('run_id', sa.String(length=36), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('delivery_id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('agency', 'kind', 'case_key', name=op.f('uq_outbox_agency_kind_case_key')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_outbox_idempotency_key'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_pipeline_status'), ['pipeline', 'status'], unique=False)

    op.create_table('payments_seen',
    sa.Column('source', sa.String(length=120), nullable=False),
    sa.Column('payment_id', sa.String(length=200), nullable=False),
    sa.Column('pipeline', sa.String(length=120), nullable=False),
    sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('booking_date', sa.Date(), nullable=False),
    sa.Column('reference', sa.String(length=140), nullable=True),
    sa.Column('case_key', sa.String(length=40), nullable=True),
    sa.Column('invoice_number', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=True),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('source', 'payment_id', name=op.f('pk_payments_seen'))
    )
    with op.batch_alter_table('payments_seen', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payments_seen_pipeline_status'), ['pipeline', 'status'], unique=False)

    op.create_table('quarantine',
    sa.Column('quarantine_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('pipeline', sa.String(length=120), nullable=False),
    sa.Column('run_id', sa.String(length=36), nullable=False),
    sa.Column('stream', sa.String(length=120), nullable=False),
    sa.Column('location', sa.String(length=500), nullable=False),
    sa.Column('record_id', sa.String(length=200), nullable=True),
    sa.Column('reasons', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('quarantine_id', name=op.f('pk_quarantine'))
    )
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quarantine_pipeline_resolved_at'), ['pipeline', 'resolved_at'], unique=False)

    op.create_table('runs',
    sa.Column('run_id', sa.String(length=36), nullable=False),
    sa.Column('pipeline', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('stats', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('run_id', name=op.f('pk_runs'))
    )
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_runs_pipeline_started_at'), ['pipeline', 'started_at'], unique=False)

    op.create_table('settlements_seen',
    sa.Column('agency', sa.String(length=120), nullable=False),
    sa.Column('line_id', sa.String(length=200), nullable=False),
    sa.Column('settlement_id', sa.String(length=200), nullable=False),
    sa.Column('pipeline', sa.String(length=120), nullable=False),
    sa.Column('case_key', sa.String(length=40), nullable=True),
    sa.Column('invoice_number', sa.String(length=200), nullable=True),
    sa.Column('principal', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('interest', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('fees', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('commission', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('ledger_ref', sa.String(length=200), nullable=True),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('booked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('agency', 'line_id', name=op.f('pk_settlements_seen'))
    )
    op.create_table('staged_claims',
    sa.Column('run_id', sa.String(length=36), nullable=False),
    sa.Column('invoice_number', sa.String(length=200), nullable=False),
    sa.Column('debtor_id', sa.String(length=200), nullable=False),
    sa.Column('debtor_key', sa.String(length=200), nullable=True),
    sa.Column('group_key', sa.String(length=200), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('remaining_principal', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('claim', sa.Text(), nullable=False),
    sa.Column('decision', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('run_id', 'invoice_number', name=op.f('pk_staged_claims'))
    )
    with op.batch_alter_table('staged_claims', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staged_claims_run_id_debtor_key_group_key_invoice_number'), ['run_id', 'debtor_key', 'group_key', 'invoice_number'], unique=False)

    op.create_table('staged_parties',
    sa.Column('run_id', sa.String(length=36), nullable=False),
    sa.Column('debtor_id', sa.String(length=200), nullable=False),
    sa.Column('debtor_key', sa.String(length=200), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('consumer', sa.Boolean(), nullable=False),
    sa.Column('tags', sa.Text(), nullable=False),
    sa.Column('holds', sa.Text(), nullable=False),
    sa.Column('party', sa.Text(), nullable=False),
    sa.Column('quality', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('run_id', 'debtor_id', name=op.f('pk_staged_parties'))
    )



def downgrade() -> None:

    op.drop_table('staged_parties')
    with op.batch_alter_table('staged_claims', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staged_claims_run_id_debtor_key_group_key_invoice_number'))

    op.drop_table('staged_claims')
    op.drop_table('settlements_seen')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_runs_pipeline_started_at'))

    op.drop_table('runs')
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quarantine_pipeline_resolved_at'))

    op.drop_table('quarantine')
    with op.batch_alter_table('payments_seen', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payments_seen_pipeline_status'))

    op.drop_table('payments_seen')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_pipeline_status'))

    op.drop_table('outbox')
    op.drop_table('leases')
    with op.batch_alter_table('id_map', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_id_map_case_key'))

    op.drop_table('id_map')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_events_case_key_at'))

    op.drop_table('events')
    op.drop_table('cursors')
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_claims_pipeline_review_on'))
        batch_op.drop_index(batch_op.f('ix_claims_pipeline_limitation_on'))
        batch_op.drop_index(batch_op.f('ix_claims_pipeline_kid'))
        batch_op.drop_index(batch_op.f('ix_claims_pipeline_debtor_key'))
        batch_op.drop_index(batch_op.f('ix_claims_pipeline_case_key'))

    op.drop_table('claims')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cases_pipeline_status'))
        batch_op.drop_index(batch_op.f('ix_cases_agency_agency_ref'))

    op.drop_table('cases')
    op.drop_table('audit_log')
    op.drop_table('audit_head')

