import datetime as dt

import pandera.errors
import polars as pl
import pytest

from ac_hygiene import schemas


@pytest.mark.parametrize(
    "model",
    [
        schemas.Contacts,
        schemas.Lists,
        schemas.Tags,
        schemas.Fields,
        schemas.Verifications,
        schemas.CleanPlan,
        schemas.AppliedActions,
    ],
)
def test_empty_frame_matches_its_model(model):
    model.validate(schemas.empty_frame(model))


def test_contacts_refuse_string_ids_and_naive_times():
    good = pl.DataFrame(
        {
            "contact_id": [1],
            "email": ["a@acme.com"],
            "first_name": ["A"],
            "last_name": [None],
            "created_at": [dt.datetime(2026, 1, 1, tzinfo=dt.UTC)],
            "updated_at": [dt.datetime(2026, 1, 2, tzinfo=dt.UTC)],
            "bounced_hard": [False],
            "active_list_ids": [[1, 2]],
            "unsubscribed_list_ids": [[]],
            "tag_ids": [[3]],
        },
        schema=schemas.empty_frame(schemas.Contacts).schema,
    )
    schemas.Contacts.validate(good)
    with pytest.raises(pandera.errors.SchemaError):
        schemas.Contacts.validate(good.with_columns(pl.col("contact_id").cast(pl.String)))
    with pytest.raises(pandera.errors.SchemaError):
        schemas.Contacts.validate(
            good.with_columns(pl.col("created_at").dt.replace_time_zone(None))
        )


def test_verifications_refuse_unknown_status():
    frame = schemas.empty_frame(schemas.Verifications).vstack(
        pl.DataFrame(
            {
                "email": ["x@acme.com"],
                "email_normalized": ["x@acme.com"],
                "status": ["maybe"],
                "reason": ["accepted"],
                "is_disposable": [False],
                "is_role": [False],
                "is_free": [False],
                "is_catch_all": [False],
                "suggestion": [None],
                "mx_host": [None],
                "smtp_code": [None],
                "checked_at": [dt.datetime(2026, 1, 1, tzinfo=dt.UTC)],
                "from_cache": [False],
                "billable": [True],
            },
            schema=schemas.empty_frame(schemas.Verifications).schema,
        )
    )
    with pytest.raises(pandera.errors.SchemaError):
        schemas.Verifications.validate(frame)
