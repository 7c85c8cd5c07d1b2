"""``placement-status upgrade check``: is this deployment ready to upgrade?

The reference's checks, table and exit codes (0 success, 1 warning,
2 failure, 255 error), built on oslo.upgradecheck as the reference is:
providers missing a root provider id (failure), allocations whose consumer
has no consumers row (warning), a JSON policy file (as oslo.upgradecheck
rates it). ``--json`` prints the results as JSON.
"""

import logging
import sys

from oslo_config import cfg
from oslo_upgradecheck import common_checks
from oslo_upgradecheck import upgradecheck

from allotment import config
from allotment import logs
from allotment.domain import online_migrations
from allotment.storage import engine

MIGRATE_HINT = 'Run the "placement-manage db online_data_migrations" command.'


class Checks(upgradecheck.UpgradeCommands):
    """The upgrade checks, each answering an ``upgradecheck.Result``."""

    def __init__(self, conf):
        super().__init__()
        self.conf = conf

    def _count(self, counter):
        database = engine.Database.from_conf(self.conf)
        try:
            with database.read() as conn:
                return counter(conn)
        finally:
            database.dispose()

    def _check_root_provider_ids(self):
        if self._count(online_migrations.count_missing_root_ids):
            return upgradecheck.Result(
                upgradecheck.Code.FAILURE,
                details="There is at least one resource provider table "
                "record which misses its root provider id. " + MIGRATE_HINT,
            )
        return upgradecheck.Result(upgradecheck.Code.SUCCESS)

    def _check_incomplete_consumers(self):
        missing = self._count(online_migrations.count_incomplete_consumers)
        if missing:
            return upgradecheck.Result(
                upgradecheck.Code.WARNING,
                details="There are %s incomplete consumers table records "
                "for existing allocations. %s" % (missing, MIGRATE_HINT),
            )
        return upgradecheck.Result(upgradecheck.Code.SUCCESS)

    def _check_policy_json(self):
        return common_checks.check_policy_json(self, self.conf)

    _upgrade_checks = (
        ("Missing Root Provider IDs", _check_root_provider_ids),
        ("Incomplete Consumers", _check_incomplete_consumers),
        ("Policy File JSON to YAML Migration", _check_policy_json),
    )


def main(argv=None):
    conf = cfg.ConfigOpts()
    config.register_opts(conf)
    checks = Checks(conf)
    upgradecheck.register_cli_options(conf, checks)
    conf(sys.argv[1:] if argv is None else list(argv), project="placement")
    logs.setup(conf, level=logging.WARNING)
    # oslo.upgradecheck reads the --json flag through its module-level CONF.
    upgradecheck.CONF = conf
    return upgradecheck.run(conf)
