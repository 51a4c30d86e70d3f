"""Pandera models of every table that crosses a module boundary.

These models are the contract between the ActiveCampaign reads, the verification engine, the
hygiene planner and the Dagster assets: each producer validates what it emits against them and the
Dagster asset checks enforce them on every materialization. Ids are Int64 and times are UTC.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.engines import polars_engine as pe

UTC_DATETIME = pe.DateTime(time_zone="UTC")

VERIFICATION_STATUSES = ("deliverable", "undeliverable", "risky", "unknown")
VERIFICATION_REASONS = (
    "accepted",
    "invalid_syntax",
    "no_domain",
    "null_mx",
    "no_mail_server",
    "mailbox_not_found",
    "mailbox_full",
    "catch_all",
    "disposable",
    "role_account",
    "greylisted",
    "smtp_timeout",
    "smtp_unavailable",
    "blocked",
    "dns_error",
    "smtp_error",
    "skipped",
    "sender_rejected",  # the server refused our probe's sender, not the mailbox
    "rejects_all",  # the server refused postmaster@ too: it cannot tell mailboxes apart
    "dns_unreliable",  # the resolver failed its canaries: no DNS-derived verdict in the batch
    "typo_domain",  # a listed domain that is a typo of a popular provider (see suggestion)
)
PLAN_CATEGORIES = ("valid", "invalid", "disposable", "catch_all", "unknown", "risky")
PLAN_ACTIONS = ("keep", "unsubscribe", "delete")
APPLY_OUTCOMES = ("done", "skipped", "failed")


class Contacts(pa.DataFrameModel):
    """One row per ActiveCampaign contact, as stored in the account."""

    contact_id: pl.Int64 = pa.Field(unique=True, ge=1)
    email: pl.String = pa.Field(nullable=True)
    first_name: pl.String = pa.Field(nullable=True)
    last_name: pl.String = pa.Field(nullable=True)
    created_at: UTC_DATETIME = pa.Field(nullable=True)
    updated_at: UTC_DATETIME = pa.Field(nullable=True)
    bounced_hard: pl.Boolean
    active_list_ids: pl.List(pl.Int64)
    unsubscribed_list_ids: pl.List(pl.Int64)
    tag_ids: pl.List(pl.Int64)

    class Config:
        strict = True
        coerce = False


class Lists(pa.DataFrameModel):
    list_id: pl.Int64 = pa.Field(unique=True, ge=1)
    name: pl.String

    class Config:
        strict = True


class Tags(pa.DataFrameModel):
    tag_id: pl.Int64 = pa.Field(unique=True, ge=1)
    tag: pl.String

    class Config:
        strict = True


class Fields(pa.DataFrameModel):
    field_id: pl.Int64 = pa.Field(unique=True, ge=1)
    title: pl.String
    type: pl.String

    class Config:
        strict = True


class Verifications(pa.DataFrameModel):
    """One row per address given to the engine, in input order."""

    email: pl.String = pa.Field(nullable=True)
    email_normalized: pl.String = pa.Field(nullable=True)
    status: pl.String = pa.Field(isin=VERIFICATION_STATUSES)
    reason: pl.String = pa.Field(isin=VERIFICATION_REASONS)
    is_disposable: pl.Boolean
    is_role: pl.Boolean
    is_free: pl.Boolean
    is_catch_all: pl.Boolean
    suggestion: pl.String = pa.Field(nullable=True)
    mx_host: pl.String = pa.Field(nullable=True)
    smtp_code: pl.Int64 = pa.Field(nullable=True)
    checked_at: UTC_DATETIME
    from_cache: pl.Boolean
    billable: pl.Boolean

    class Config:
        strict = True


class CleanPlan(pa.DataFrameModel):
    contact_id: pl.Int64 = pa.Field(unique=True, ge=1)
    email: pl.String = pa.Field(nullable=True)
    category: pl.String = pa.Field(isin=PLAN_CATEGORIES)
    action: pl.String = pa.Field(isin=PLAN_ACTIONS)
    list_ids: pl.List(pl.Int64)
    reason: pl.String

    class Config:
        strict = True


class AppliedActions(pa.DataFrameModel):
    contact_id: pl.Int64 = pa.Field(ge=1)
    action: pl.String = pa.Field(isin=PLAN_ACTIONS)
    outcome: pl.String = pa.Field(isin=APPLY_OUTCOMES)
    detail: pl.String = pa.Field(nullable=True)
    applied_at: UTC_DATETIME

    class Config:
        strict = True


def empty_frame(model: type[pa.DataFrameModel]) -> pl.DataFrame:
    """An empty frame with the model's exact column types, for segments with no rows."""
    schema = model.to_schema()
    return pl.DataFrame(schema={name: column.dtype.type for name, column in schema.columns.items()})
