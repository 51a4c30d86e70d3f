"""Which address each contact had when we last saw it, and what a change in a window means.

ActiveCampaign moves a contact's `udate` for any change: a new name, a tag, a list, a field. Only a
new *address* needs verifying, and the API keeps no history, so the previous address must come
from us. It is kept here, in the ledger's database: one row per (connection, contact) with the
SHA-256 of the contact's billing key (trimmed, lower-cased email, exactly the ledger's key; no
address is stored in clear) and the contact's `updated_at` when it was seen. Monthly runs and
new-contacts windows both record what they verified; a newer `updated_at` wins, so two runs
recording the same contact in either order leave its latest address.

`classify_changes` then sorts the contacts of a window:

- `no_email`: nothing to verify;
- `same_address`: known with this very address - a name, tag, list or field change; not verified;
- `email_changed`: known with another address (or with none) - verified, and charged for the new
  address (once a month, as the ledger always does);
- `new`: unknown and created within the window - verified;
- `already_verified`: unknown to the book but older than the window, its address already charged
  this month (say, covered by this month's run before the book existed) - not verified;
- `not_verified_this_month`: unknown, older, address not charged this month - verified: whatever
  changed, this address has no verdict for the month yet, and the month's run would charge it
  anyway.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime

import polars as pl
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ac_hygiene.hygiene.db import Database, insert_many, utc_now
from ac_hygiene.hygiene.ledger import billing_key_expr, normalize_month
from ac_hygiene.hygiene.tables import UtcDateTime, credit_charges

NO_EMAIL = "no_email"
SAME_ADDRESS = "same_address"
EMAIL_CHANGED = "email_changed"
NEW = "new"
ALREADY_VERIFIED = "already_verified"
NOT_VERIFIED_THIS_MONTH = "not_verified_this_month"
CHANGES = (NEW, EMAIL_CHANGED, NOT_VERIFIED_THIS_MONTH, SAME_ADDRESS, ALREADY_VERIFIED, NO_EMAIL)
VERIFIED_CHANGES = (NEW, EMAIL_CHANGED, NOT_VERIFIED_THIS_MONTH)

_CHUNK = 1_000

# Its own MetaData: the table belongs to this module and is created by it, beside the ledger's.
metadata = sa.MetaData()
contact_addresses = sa.Table(
    "contact_addresses",
    metadata,
    sa.Column("connection", sa.String(200), nullable=False),
    sa.Column("contact_id", sa.BigInteger, nullable=False, autoincrement=False),
    sa.Column("key_hash", sa.String(64), nullable=True),  # null: the contact had no email
    sa.Column("updated_at", UtcDateTime, nullable=True),  # the contact's, when seen
    sa.Column("recorded_at", UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint("connection", "contact_id", name="pk_contact_addresses"),
)


def key_hash(billing_key: str) -> str:
    """The ledger's hash of a billing key (the same function, so the two can be compared)."""
    return hashlib.sha256(billing_key.encode("utf-8", "surrogatepass")).hexdigest()


def _hashes(frame: pl.DataFrame) -> list[str | None]:
    keys = frame.select(billing_key_expr("email").alias("k")).get_column("k").to_list()
    return [key_hash(k) if k else None for k in keys]


class AddressBook:
    """The last known address of every contact seen, per connection, in the ledger database."""

    def __init__(self, url: str) -> None:
        self._db = Database(url)
        self._db.run(lambda conn: metadata.create_all(conn, checkfirst=True))

    def __repr__(self) -> str:
        return f"AddressBook({self._db.masked_url!r})"

    def close(self) -> None:
        self._db.dispose()

    def __enter__(self) -> AddressBook:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def known(self, connection: str, contact_ids: Iterable[int]) -> dict[int, str | None]:
        """contact_id -> its recorded key hash (None: recorded without email); absent: unknown."""
        wanted = sorted(set(contact_ids))
        t = contact_addresses

        def read(conn: Connection) -> dict[int, str | None]:
            found: dict[int, str | None] = {}
            for start in range(0, len(wanted), _CHUNK):
                query = sa.select(t.c.contact_id, t.c.key_hash).where(
                    t.c.connection == connection,
                    t.c.contact_id.in_(wanted[start : start + _CHUNK]),
                )
                found.update({int(i): h for i, h in conn.execute(query)})
            return found

        return self._db.run(read, readonly=True) if wanted else {}

    def remember(self, connection: str, contacts: pl.DataFrame) -> int:
        """Record each contact's address (`contact_id`, `email`, `updated_at`); a row seen with
        an older `updated_at` than the one stored is ignored. Returns the rows offered."""
        if contacts.height == 0:
            return 0
        now = utc_now()
        frame = contacts.select("contact_id", "email", "updated_at").unique(
            subset="contact_id", keep="last"
        )
        rows = [
            {
                "connection": connection,
                "contact_id": int(contact_id),
                "key_hash": digest,
                "updated_at": updated_at,
                "recorded_at": now,
            }
            for (contact_id, updated_at), digest in zip(
                frame.select("contact_id", "updated_at").iter_rows(), _hashes(frame), strict=True
            )
        ]
        rows.sort(key=lambda r: r["contact_id"])  # one lock order for concurrent writers
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start : start + _CHUNK]
            self._db.run(lambda conn, chunk=chunk: _upsert(conn, chunk))
        return len(rows)

    def charged_keys(self, connection: str, month: str, contacts: pl.DataFrame) -> set[str]:
        """The key hashes of `contacts`' addresses already charged to `connection` in `month`."""
        month = normalize_month(month)
        wanted = sorted({h for h in _hashes(contacts) if h})
        c = credit_charges

        def read(conn: Connection) -> set[str]:
            found: set[str] = set()
            for start in range(0, len(wanted), _CHUNK):
                query = sa.select(c.c.key_hash).where(
                    c.c.connection == connection,
                    c.c.month == month,
                    c.c.key_hash.in_(wanted[start : start + _CHUNK]),
                )
                found.update(conn.execute(query).scalars())
            return found

        return self._db.run(read, readonly=True) if wanted else set()


def _upsert(conn: Connection, rows: list[dict]) -> None:
    insert_many(conn, _upsert_statement(conn), rows)


def _upsert_statement(conn: Connection) -> sa.Insert:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(contact_addresses)
    stored, offered = contact_addresses.c.updated_at, stmt.excluded.updated_at
    return stmt.on_conflict_do_update(
        index_elements=["connection", "contact_id"],
        set_={
            "key_hash": stmt.excluded.key_hash,
            "updated_at": offered,
            "recorded_at": stmt.excluded.recorded_at,
        },
        # newest wins; a row without a date never overwrites one with a date
        where=sa.or_(stored.is_(None), sa.and_(offered.is_not(None), stored <= offered)),
    )


def classify_changes(
    contacts: pl.DataFrame,
    known: Mapping[int, str | None],
    charged: set[str],
    since: datetime,
) -> pl.DataFrame:
    """`contacts` with `change` (one of `CHANGES`) and `verify` (bool) appended."""
    hashes = _hashes(contacts)
    ids = contacts.get_column("contact_id").to_list()
    created = contacts.get_column("created_at").to_list()
    changes: list[str] = []
    for contact_id, digest, created_at in zip(ids, hashes, created, strict=True):
        if digest is None:
            changes.append(NO_EMAIL)
        elif contact_id in known:
            changes.append(SAME_ADDRESS if known[contact_id] == digest else EMAIL_CHANGED)
        elif created_at is not None and created_at >= since:
            changes.append(NEW)
        elif digest in charged:
            changes.append(ALREADY_VERIFIED)
        else:
            changes.append(NOT_VERIFIED_THIS_MONTH)
    change = pl.Series("change", changes, dtype=pl.String)
    return contacts.with_columns(change, change.is_in(VERIFIED_CHANGES).alias("verify"))
