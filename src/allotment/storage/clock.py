"""The time stamps stored in created_at / updated_at (naive UTC, like the
reference)."""

import datetime


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(
        tzinfo=None, microsecond=0
    )


_EPOCH = datetime.datetime(1970, 1, 1)
_MICROSECOND = datetime.timedelta(microseconds=1)
NEVER = -(2**63)  # ``modified`` of a row with neither time stamp


def micros(stamp: datetime.datetime) -> int:
    """A stored time stamp as whole microseconds since the epoch (the
    provider snapshot keeps them in an integer column); a time zone, never
    stored, is dropped."""
    if stamp.tzinfo is not None:
        stamp = stamp.replace(tzinfo=None)
    return (stamp - _EPOCH) // _MICROSECOND


def modified(
    created: datetime.datetime | None, updated: datetime.datetime | None
) -> int:
    """When a row last changed, as the provider list's Last-Modified
    counts it: ``micros`` of its updated_at, or else of its created_at;
    NEVER when it has neither."""
    stamp = created if updated is None else updated
    return NEVER if stamp is None else micros(stamp)


def from_micros(value: int) -> datetime.datetime:
    """The time stamp ``micros`` made ``value`` of."""
    return _EPOCH + datetime.timedelta(microseconds=value)
