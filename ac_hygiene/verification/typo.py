"""Layer 4: "did you mean ...?" for mistyped popular domains, after mailcheck.

mailcheck's approach, tightened against its well-known false positives (it turns `aon.com` into
`aol.com` and `email.de` into `gmail.de`):

1. A popular domain (the free-provider list, in popularity order) is never corrected.
2. The closest popular domain within an edit distance (optimal-string-alignment
   Damerau-Levenshtein, so `gmial` is one transposition away from `gmail`) is suggested. The
   allowed distance grows with the popular name: `aol`, `msn`, `live` may only differ in what
   follows the name (`aol.co`), names of 5 letters by one edit, longer ones by two.
3. Else the second-level part and the TLD are fixed separately (`gmial.con` -> `gmail.com`), but
   a changed second-level part is only suggested when the result is itself a popular domain.
4. Else a TLD that does not exist (IANA root zone list) one edit away from a common TLD is fixed
   (`acme.con` -> `acme.com`); a real TLD (`acme.co`) is left alone.
5. A domain on the disposable list is a service someone runs, so it is only "corrected" for a
   single slip (`gmial.com`, `hotmai.com`), never for a two-edit likeness (`yopmail.com` is not a
   mistyped `hotmail.com`).

Suggestions are made whether or not the domain resolves (as mailcheck does): the status comes
from DNS and SMTP, the suggestion only helps a person fix the contact. Candidate search uses a
SymSpell-style deletion index, so a batch with tens of thousands of distinct domains stays cheap.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from functools import cache, lru_cache

from ac_hygiene.verification.lists import free_domains, is_disposable, load_data_lines

# Common TLDs a mistyped TLD is corrected to, most likely first (ties go to the earlier one).
COMMON_TLDS = (
    "com", "net", "org", "de", "uk", "fr", "it", "nl", "es", "ca", "au", "br", "ru", "io", "co",
    "edu", "gov", "info", "biz", "us", "ch", "be", "at", "se", "no", "dk", "pl", "jp", "in", "me",
)  # fmt: skip
_MAX_DISTANCE = 2


def osa_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insert, delete, substitute, swap adjacent."""
    if a == b:
        return 0
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, start=1):
            cost = 0 if char_a == char_b else 1
            best = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                best = min(best, previous2[j - 2] + 1)
            current[j] = best
        previous2, previous = previous, current
    return previous[-1]


def _deletions(word: str, depth: int) -> set[str]:
    """Every string made by deleting up to `depth` characters of `word`."""
    variants = {word}
    frontier = {word}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1 :] for w in frontier for i in range(len(w))}
        variants |= frontier
    return variants


class _Index:
    """SymSpell index: two words within distance d share a string made by <= d deletions."""

    def __init__(self, words: tuple[str, ...]):
        self.words = words
        self.rank = {word: rank for rank, word in enumerate(words)}
        self.by_deletion: dict[str, set[str]] = defaultdict(set)
        for word in words:
            for variant in _deletions(word, _MAX_DISTANCE):
                self.by_deletion[variant].add(word)

    def closest(self, word: str, limit: Callable[[str], int]) -> str | None:
        """The nearest word within `limit(word_in_index)` edits (nearest, then most popular)."""
        if len(word) > 64:
            return None
        candidates: set[str] = set()
        for variant in _deletions(word, _MAX_DISTANCE):
            candidates |= self.by_deletion.get(variant, set())
        scored = [
            (distance, self.rank[candidate], candidate)
            for candidate in candidates
            if (distance := osa_distance(word, candidate)) <= limit(candidate)
        ]
        return min(scored)[2] if scored else None


@cache
def _popular() -> tuple[str, ...]:
    return load_data_lines("free_providers.txt")


@cache
def _domain_index() -> _Index:
    return _Index(_popular())


@cache
def _sld_index() -> _Index:
    """Second-level parts of popular domains distinctive enough to correct (5+ characters)."""
    slds = dict.fromkeys(domain.split(".")[0] for domain in _popular())
    return _Index(tuple(sld for sld in slds if len(sld) >= 5 and not sld.isdigit()))


@cache
def _tld_index() -> _Index:
    return _Index(COMMON_TLDS)


@cache
def real_tlds() -> frozenset[str]:
    return frozenset(load_data_lines("tlds.txt"))


def _allowed_distance(popular_sld: str) -> int:
    """Edits allowed towards a popular name: none for aol/msn/live, 1 up to 5 letters, else 2."""
    if len(popular_sld) <= 4:
        return 0
    return 1 if len(popular_sld) <= 5 else 2


def _domain_limit(popular: str) -> int:
    return _allowed_distance(popular.partition(".")[0])


def _fix_tld(tld: str) -> str:
    if tld in real_tlds():
        return tld
    return _tld_index().closest(tld, lambda _: 1) or tld


@lru_cache(maxsize=65_536)
def suggest_domain(domain: str) -> str | None:
    """A popular or corrected domain the person probably meant, or None (see module doc)."""
    domain = domain.lower().rstrip(".")
    labels = domain.split(".")
    if len(labels) < 2 or domain in free_domains() or not domain.isascii():
        return None
    sld, tld = labels[0], labels[-1]
    cap = 1 if is_disposable(domain) else _MAX_DISTANCE

    def domain_limit(popular: str) -> int:
        return min(cap, _domain_limit(popular))

    def sld_limit(popular: str) -> int:
        return min(cap, _allowed_distance(popular))

    closest = _domain_index().closest(domain, domain_limit)
    if closest is not None:
        return closest
    # Short names (aol, msn, live): only the part after the name may be mistyped.
    rest = ".".join(labels[1:])
    for popular in _popular():
        head, _, tail = popular.partition(".")
        if head == sld and osa_distance(rest, tail) == 1:
            return popular
    fixed_tld = _fix_tld(tld)
    fixed_sld = _sld_index().closest(sld, sld_limit)
    if fixed_sld is not None and fixed_sld != sld:
        candidate = ".".join([fixed_sld, *labels[1:-1], fixed_tld])
        if candidate in free_domains():
            return candidate
    if fixed_tld != tld:
        return ".".join([*labels[:-1], fixed_tld])
    return None


def suggest_email(local_part: str, domain: str) -> str | None:
    """The full corrected address (`alice@gmail.com`) for a mistyped domain, else None."""
    suggestion = suggest_domain(domain)
    return f"{local_part}@{suggestion}" if suggestion else None
