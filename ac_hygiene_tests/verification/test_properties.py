"""Whatever the input, one well-formed row per address, in input order, and no exception."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ac_hygiene.sandbox.mailworld import RunningMailWorld
from ac_hygiene.schemas import Verifications
from ac_hygiene.verification import VerificationSettings, verify_emails
from ac_hygiene_tests.verification.support import settings_for

OFFLINE = VerificationSettings(nameservers=[("127.0.0.1", 9)], check_dns=False, check_smtp=False)

addresses = st.one_of(
    st.none(),
    st.text(),
    st.emails(),
    st.binary().map(lambda raw: raw.decode("utf-8", errors="surrogateescape")),
    st.binary().map(lambda raw: raw.decode("latin-1")),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=300, max_size=3000),
    st.builds("{}@{}".format, st.text(max_size=20), st.text(max_size=20)),
    st.sampled_from(["@", "a@", "@b.com", "\x00", "а@пример.рф", "ｇｍａｉｌ@ｇｍａｉｌ.ｃｏｍ"]),
)


def check(emails: list[str | None], frame) -> None:
    Verifications.validate(frame)
    assert frame.height == len(emails)
    for given_email, stored in zip(emails, frame.get_column("email").to_list(), strict=True):
        if given_email is None:
            assert stored is None
        else:
            # Lone surrogates cannot be stored as UTF-8; they become U+FFFD, nothing else changes.
            assert stored == given_email.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(addresses, max_size=12))
def test_offline_engine_never_raises(emails: list[str | None]) -> None:
    check(emails, verify_emails(emails, OFFLINE))


def test_huge_inputs_are_invalid_not_fatal() -> None:
    emails = ["x" * 10_000_000 + "@example.com", "a@" + "b." * 200_000 + "com"]
    frame = verify_emails(emails, OFFLINE)
    assert frame.get_column("reason").to_list() == ["invalid_syntax", "invalid_syntax"]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.one_of(
            addresses,
            st.builds(
                "{}@{}".format,
                st.from_regex(r"[a-z]{1,8}", fullmatch=True),
                st.sampled_from(["acme.com", "gone.biz", "nullmx.org", "flaky-dns.com", "x.io"]),
            ),
        ),
        max_size=8,
    )
)
def test_engine_with_real_dns_never_raises(
    running: RunningMailWorld, emails: list[str | None]
) -> None:
    check(emails, verify_emails(emails, settings_for(running, check_smtp=False)))
