"""The provider change log: which providers changed since a reader looked.

Every write that changes what the allocation-candidates engine sees of a
provider (its existence, name, place in a tree, inventory, usage, traits or
aggregates) calls ``record`` with the provider ids, in the same transaction.
Writes that change too much to list (imports, bulk migrations) call
``record_everything``. A reader keeps a ``Cursor`` and calls ``read`` to learn
what changed since its last call.

Sequence numbers are handed out at insert time but become visible at commit
time, so on PostgreSQL and MySQL a lower number can appear after a higher
one. The cursor remembers the numbers it skipped and asks for them again
until they show up or are older than ``GAP_SECONDS`` (their transaction
rolled back).
"""

import dataclasses
import datetime
import random
import time

import sqlalchemy as sa

from allotment.storage import tables
from allotment.storage.clock import utcnow

LOG = tables.provider_changes

GAP_SECONDS = 60
GAP_WINDOW = 200  # recent numbers checked for holes at the first read
KEEP = datetime.timedelta(hours=1)
PRUNE_EVERY = 500  # one write in this many prunes old entries (on average)


def record(conn, provider_ids):
    """Note that the providers ``provider_ids`` changed."""
    ids = sorted({int(i) for i in provider_ids if i is not None})
    if not ids:
        return
    now = utcnow()
    conn.execute(LOG.insert(), [{"provider_id": i, "created_at": now}
                                for i in ids])
    if random.randrange(PRUNE_EVERY) == 0:
        prune(conn)


def record_everything(conn):
    """Note that any provider may have changed."""
    conn.execute(LOG.insert().values(provider_id=None, created_at=utcnow()))


def prune(conn, keep=KEEP):
    """Drop entries older than ``keep`` (readers that far behind reload)."""
    conn.execute(LOG.delete().where(LOG.c.created_at < utcnow() - keep))


EVERYTHING = None


@dataclasses.dataclass
class Cursor:
    """How far a reader has read the log (``last`` is None before the first
    read). Read the log before the data it guards, so that the data is at
    least as new as what the log said."""

    last: int = None
    gaps: dict = dataclasses.field(default_factory=dict)  # seq -> seen at

    def read(self, conn):
        """Providers changed since the last call: a set of ids, or
        EVERYTHING when the reader must (re)load everything."""
        now = time.monotonic()
        if self.last is None:
            self.last = conn.scalar(sa.select(sa.func.max(LOG.c.seq))) or 0
            recent = set(conn.scalars(sa.select(LOG.c.seq).where(
                LOG.c.seq > self.last - GAP_WINDOW)))
            self.gaps = {seq: now for seq in range(
                max(1, self.last - GAP_WINDOW + 1), self.last)
                if seq not in recent}
            return EVERYTHING
        cond = LOG.c.seq > self.last
        if self.gaps:
            cond = sa.or_(cond, LOG.c.seq.in_(list(self.gaps)))
        rows = conn.execute(sa.select(LOG.c.seq, LOG.c.provider_id)
                            .where(cond).order_by(LOG.c.seq)).all()
        everything = False
        if rows and rows[0][0] > self.last + 1 and not self.gaps:
            oldest = conn.scalar(sa.select(sa.func.min(LOG.c.seq)))
            # Entries between what we read and what is left were pruned.
            everything = oldest is not None and oldest > self.last + 1
        changed = set()
        for seq, provider_id in rows:
            self.gaps.pop(seq, None)
            if seq > self.last:
                for missing in range(self.last + 1, seq):
                    self.gaps[missing] = now
                self.last = seq
            if provider_id is None:
                everything = True
            else:
                changed.add(provider_id)
        for seq, seen in list(self.gaps.items()):
            if now - seen > GAP_SECONDS:
                del self.gaps[seq]
        return EVERYTHING if everything else changed
