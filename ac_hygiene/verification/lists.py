"""Layer 3: the list checks (disposable domain, role local part, free provider).

Pure lookups in sets loaded once per process; each answers for one normalized address part.
The data files live in `data/` with their origin stated in their headers.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

import disposable_email_domains

# A role name followed by one of these and anything else is still that role: "sales-team",
# "info.de", "support_2". Plus tags are removed before matching ("info+news").
_ROLE_SEPARATORS = re.compile(r"[._-]")


@cache
def load_data_lines(name: str) -> tuple[str, ...]:
    """The non-comment, non-blank lines of a shipped data file, lower-cased, in file order."""
    text = resources.files("ac_hygiene.verification").joinpath("data", name).read_text("utf-8")
    lines = (line.strip().lower() for line in text.splitlines())
    return tuple(dict.fromkeys(line for line in lines if line and not line.startswith("#")))


@cache
def role_names() -> frozenset[str]:
    return frozenset(load_data_lines("role_accounts.txt"))


@cache
def free_domains() -> frozenset[str]:
    return frozenset(load_data_lines("free_providers.txt"))


def is_disposable(domain: str) -> bool:
    """The domain or any parent of it is on the disposable list (`a.b.mailinator.com` is).

    The public suffix itself is never matched alone, so `co.uk` being absent from the list is
    all that keeps every `.co.uk` address from matching; the list holds registrable domains.
    """
    blocklist = disposable_email_domains.blocklist
    labels = domain.lower().split(".")
    return any(".".join(labels[i:]) in blocklist for i in range(len(labels) - 1))


def is_role(local_part: str) -> bool:
    """A shared mailbox (info@, sales-team@, no-reply@) rather than a person.

    Matched on the whole local part without its +tag, or on any leading run of it that ends
    at a separator ("support.de", "no-reply-eu"); a person's "john.sales" is not a role account,
    since only what comes first says whose mailbox it is.
    """
    local = local_part.lower().partition("+")[0]
    if not local:
        return False
    names = role_names()
    return local in names or any(
        local[: match.start()] in names for match in _ROLE_SEPARATORS.finditer(local)
    )


def is_free(domain: str) -> bool:
    """A consumer mailbox provider (gmail.com, gmx.de, ...): exact domain match only."""
    return domain.lower() in free_domains()
