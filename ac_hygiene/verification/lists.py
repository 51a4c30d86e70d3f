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


# Words that may follow a role name and keep it a role ("sales-team", "support.desk").
_ROLE_TAILS = frozenset(
    {"team", "dept", "department", "desk", "group", "office", "line", "inbox", "box", "only"}
)


def _role_tail(part: str, names: frozenset[str]) -> bool:
    """A part that can follow a role name: digits, a region code (`de`, `eu`), another role word."""
    return (
        part.isdigit()
        or (part.isalpha() and len(part) <= 2)
        or part in names
        or (part in _ROLE_TAILS)
    )


def is_role(local_part: str) -> bool:
    """A shared mailbox (info@, sales-team@, no-reply@) rather than a person.

    Matched on the whole local part without its +tag, or on a leading run of it that ends at a
    separator when what follows is only digits, region codes or role words ("support.de",
    "no-reply-eu", "sales-team", "support_2"). A person's "john.sales" is not a role account, and
    neither is "dev.patel" or "cs.lewis": a role word followed by a name is a person's address.
    """
    local = local_part.lower().partition("+")[0]
    if not local:
        return False
    names = role_names()
    if local in names:
        return True
    for match in _ROLE_SEPARATORS.finditer(local):
        if local[: match.start()] in names:
            rest = _ROLE_SEPARATORS.split(local[match.end() :])
            if all(_role_tail(part, names) for part in rest if part):
                return True
    return False


def is_free(domain: str) -> bool:
    """A consumer mailbox provider (gmail.com, gmx.de, ...): exact domain match only."""
    return domain.lower() in free_domains()
