"""Error messages quote database URLs (psycopg's own words, prcast's "cannot connect to …",
a lease that could not be renewed): no password survives in them, whichever way a URL
carries it, and whichever URL it is."""

from __future__ import annotations

import pytest

from prcast.store.database import hide_password, hide_passwords_in

URL = "postgresql://pg:s3cr%2Ft#pw@db.example:5432/press"


@pytest.mark.parametrize(
    ("text", "url", "gone", "kept"),
    [
        # the URL the message is about, quoted whole
        (f"connection to {URL} failed", URL, "s3cr", "postgresql://pg:***@db.example:5432/press"),
        # another URL in the message (a server's redirect, a DSN in a hint)
        ("see postgres://admin:hunter2@10.0.0.1/x now", "", "hunter2", "postgres://admin:***@10.0.0.1/x"),
        # a password in the query of the URL the message is about
        (
            "bad url postgresql://pg@db/press?password=qu3ry&sslmode=require",
            "postgresql://pg@db/press?password=qu3ry&sslmode=require",
            "qu3ry",
            "sslmode=require",
        ),
        # a libpq keyword string
        ("dsn host=db password=k3yw0rd user=pg", "host=db password=k3yw0rd user=pg", "k3yw0rd", "host=db"),
    ],
)  # fmt: skip
def test_no_password_survives_in_a_message(text: str, url: str, gone: str, kept: str) -> None:
    hidden = hide_passwords_in(text, url)
    assert gone not in hidden and kept in hidden, hidden


def test_a_message_is_one_line_and_the_url_reads_as_hide_password_writes_it() -> None:
    hidden = hide_passwords_in(f"FATAL:  no such database\n  DETAIL: {URL}\n", URL)
    assert "\n" not in hidden
    assert hidden == f"FATAL: no such database DETAIL: {hide_password(URL)}"
