"""The time stamps stored in created_at / updated_at (naive UTC, like the
reference)."""

import datetime


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(
        tzinfo=None, microsecond=0
    )
