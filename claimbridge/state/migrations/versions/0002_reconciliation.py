"""reconciliation: agency updates, settlement booking steps, corrections

- ``updates_seen``: every agency update applied, per pipeline (dedup, and the lifecycle inputs).
- ``cases.delivery_status``: where a case's lifecycle replay starts.
- ``claims.agency_payment_ref``: the reference the debtor pays the agency with.
- ``outbox``: one case may now have many corrections of one kind (two direct payments), so
  the (agency, kind, case_key) constraint goes; the idempotency key stays unique.
- ``payments_seen.kind``: ledger payments and credit notes share the table.
- ``settlements_seen``: the booking steps of a line (payment ref, voucher ref, why not booked).

Revision ID: 0002_reconciliation
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0002_reconciliation'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('updates_seen',
    sa.Column('pipeline', sa.String(length=120), nullable=False),
    sa.Column('agency', sa.String(length=120), nullable=False),
    sa.Column('update_id', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('case_key', sa.String(length=40), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('run_id', sa.String(length=36), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('pipeline', 'agency', 'update_id', name=op.f('pk_updates_seen'))
    )
    with op.batch_alter_table('updates_seen', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_updates_seen_pipeline_case_key'), ['pipeline', 'case_key'], unique=False)

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivery_status', sa.String(length=20), nullable=True))

    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.add_column(sa.Column('agency_payment_ref', sa.String(length=60), nullable=True))
        batch_op.create_index(batch_op.f('ix_claims_pipeline_agency_payment_ref'), ['pipeline', 'agency_payment_ref'], unique=False)

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_outbox_agency_kind_case_key'), type_='unique')

    with op.batch_alter_table('payments_seen', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=20), nullable=False, server_default='payment'))

    with op.batch_alter_table('settlements_seen', schema=None) as batch_op:
        batch_op.add_column(sa.Column('currency', sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column('settlement_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('agency_ref', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('voucher_ref', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('not_booked', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('run_id', sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f('ix_settlements_seen_ledger_ref'), ['ledger_ref'], unique=False)
        batch_op.create_index(batch_op.f('ix_settlements_seen_pipeline_invoice_number'), ['pipeline', 'invoice_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_settlements_seen_pipeline_status'), ['pipeline', 'status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('settlements_seen', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_settlements_seen_pipeline_status'))
        batch_op.drop_index(batch_op.f('ix_settlements_seen_pipeline_invoice_number'))
        batch_op.drop_index(batch_op.f('ix_settlements_seen_ledger_ref'))
        batch_op.drop_column('run_id')
        batch_op.drop_column('not_booked')
        batch_op.drop_column('voucher_ref')
        batch_op.drop_column('agency_ref')
        batch_op.drop_column('settlement_date')
        batch_op.drop_column('currency')

    with op.batch_alter_table('payments_seen', schema=None) as batch_op:
        batch_op.drop_column('kind')

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f('uq_outbox_agency_kind_case_key'), ['agency', 'kind', 'case_key'])

    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_claims_pipeline_agency_payment_ref'))
        batch_op.drop_column('agency_payment_ref')

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('delivery_status')

    with op.batch_alter_table('updates_seen', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_updates_seen_pipeline_case_key'))

    op.drop_table('updates_seen')
