"""Configuration options, compatible with the reference placement.conf.

Every option a reference deployment may set is registered here with the same
group, name and default, so an existing placement.conf works unchanged.
Options can also come from the environment as ``OS_<GROUP>__<OPTION>``
(oslo.config's environment source).
"""

import os

from keystonemiddleware import opts as auth_token_opts
from oslo_config import cfg
from oslo_middleware import cors
from oslo_middleware import http_proxy_to_wsgi
from oslo_middleware import sizelimit
from oslo_middleware.healthcheck import opts as healthcheck_opts
from oslo_policy import opts as policy_opts

DEFAULT_CONSUMER_MISSING_ID = "00000000-0000-0000-0000-000000000000"

# [oslo_middleware] max_request_body_size: oslo.middleware's 112 KiB default
# is too small for a reshaper (or POST /allocations) of a big host.
DEFAULT_MAX_REQUEST_BODY_SIZE = 16 * 1024 * 1024

API_OPTS = [
    cfg.StrOpt(
        "auth_strategy",
        default="keystone",
        choices=("keystone", "noauth2"),
        help="Authentication strategy: keystone (keystonemiddleware's "
        "auth_token) or noauth2 (testing only: the X-Auth-Token header "
        "names the user and project).",
    ),
]

DATABASE_OPTS = [
    cfg.StrOpt(
        "connection",
        secret=True,
        help="SQLAlchemy URL of the placement database.",
    ),
    cfg.StrOpt(
        "connection_parameters",
        default="",
        help="Extra query parameters appended to the connection URL.",
    ),
    cfg.BoolOpt(
        "sqlite_synchronous",
        default=True,
        help="If False, SQLite runs with synchronous=OFF.",
    ),
    cfg.StrOpt(
        "slave_connection",
        secret=True,
        help="Accepted for compatibility; reads use the main connection.",
    ),
    cfg.StrOpt(
        "mysql_sql_mode",
        default="TRADITIONAL",
        help="SQL mode set on every MySQL connection.",
    ),
    cfg.IntOpt(
        "connection_recycle_time",
        default=3600,
        help="Seconds after which a pooled connection is recycled.",
    ),
    cfg.IntOpt("max_pool_size", help="Connections kept open in the pool."),
    cfg.IntOpt(
        "max_retries",
        default=10,
        help="Connection attempts at start up (-1: forever).",
    ),
    cfg.IntOpt(
        "retry_interval",
        default=10,
        help="Seconds between connection attempts at start up.",
    ),
    cfg.IntOpt("max_overflow", help="Connections allowed above the pool."),
    cfg.IntOpt(
        "connection_debug",
        default=0,
        min=0,
        max=100,
        help="SQL logging: 0 none, 50 statements, 100 and rows.",
    ),
    cfg.BoolOpt(
        "connection_trace", default=False, help="Accepted for compatibility."
    ),
    cfg.IntOpt(
        "pool_timeout", help="Seconds to wait for a pooled connection."
    ),
    cfg.BoolOpt(
        "sync_on_startup",
        default=False,
        help="Bring the schema to the latest revision when the API starts.",
    ),
]

PLACEMENT_OPTS = [
    cfg.BoolOpt(
        "randomize_allocation_candidates",
        default=False,
        help="Shuffle allocation candidates before applying limit.",
    ),
    cfg.StrOpt(
        "incomplete_consumer_project_id",
        default=DEFAULT_CONSUMER_MISSING_ID,
        help="Project id given to consumers created before 1.8.",
    ),
    cfg.StrOpt(
        "incomplete_consumer_user_id",
        default=DEFAULT_CONSUMER_MISSING_ID,
        help="User id given to consumers created before 1.8.",
    ),
    cfg.IntOpt(
        "allocation_conflict_retry_count",
        default=10,
        help="Internal retries of an allocation write that lost a "
        "provider generation race.",
    ),
    cfg.IntOpt(
        "max_allocation_candidates",
        default=-1,
        help="Upper bound of candidates generated per request (-1: no bound).",
    ),
    cfg.StrOpt(
        "allocation_candidates_generation_strategy",
        default="depth-first",
        choices=("depth-first", "breadth-first"),
        help="Order in which candidates are generated across roots "
        "when max_allocation_candidates bounds them.",
    ),
]

WORKAROUND_OPTS = [
    cfg.BoolOpt(
        "optimize_for_wide_provider_trees",
        default=False,
        help="Accepted for compatibility; the candidates engine "
        "prunes wide trees without it.",
    ),
]

DEFAULT_OPTS = [
    cfg.StrOpt("tempdir", help="Temporary working directory."),
    cfg.StrOpt(
        "pybasedir",
        default=os.path.abspath(os.path.dirname(__file__)),
        help="Directory of the python package.",
    ),
    cfg.StrOpt(
        "state_path",
        default="$pybasedir",
        help="Top-level directory for state.",
    ),
    cfg.BoolOpt("debug", default=False, help="Log at DEBUG level."),
]

# allotment's own options (no reference counterpart).
ALLOTMENT_OPTS = [
    cfg.IntOpt(
        "snapshot_check_interval",
        default=300,
        min=0,
        help="Seconds between each API worker's comparisons of its "
        "in-memory provider snapshot with the database (a "
        "fingerprint; the snapshot reloads when they differ, "
        "for example after SQL written by hand), and between the "
        "checks of the project usage totals against the "
        "allocations, which one worker of the whole deployment "
        "runs per interval. 0 disables both checks.",
    ),
    cfg.ListOpt(
        "metrics_allowed_source_ranges",
        default=[],
        help="Networks (CIDR) from which GET /allotment/metrics is "
        "answered without a token, for Prometheus scrapers (which "
        "cannot get keystone tokens). Other clients need a token "
        "passing the allotment:metrics policy rule.",
    ),
    cfg.BoolOpt(
        "export_capacity_metrics",
        default=False,
        help="Also export capacity, used and reserved amounts per "
        "resource class per root provider and per aggregate with "
        "the metrics (computed from the provider snapshot at each "
        "scrape).",
    ),
    cfg.BoolOpt(
        "ui_enabled",
        default=False,
        help="Serve the web console at /allotment/ui/ (to identities "
        "passing the allotment:ui policy rule).",
    ),
]


def register_opts(conf):
    """Register every option group on ``conf``."""
    conf.register_opts(DEFAULT_OPTS)
    conf.register_opts(API_OPTS, group="api")
    conf.register_opts(DATABASE_OPTS, group="placement_database")
    conf.register_opts(PLACEMENT_OPTS, group="placement")
    conf.register_opts(WORKAROUND_OPTS, group="workarounds")
    conf.register_opts(ALLOTMENT_OPTS, group="allotment")
    conf.register_opts(cors.CORS_OPTS, group="cors")
    conf.register_opts(http_proxy_to_wsgi.OPTS, group="oslo_middleware")
    conf.register_opts(sizelimit.OPTS, group="oslo_middleware")
    conf.set_default(
        "max_request_body_size",
        DEFAULT_MAX_REQUEST_BODY_SIZE,
        group="oslo_middleware",
    )
    conf.register_opts(healthcheck_opts.HEALTHCHECK_OPTS, group="healthcheck")
    # GET /healthcheck checks the database and the provider snapshot
    # (api/health.py); an operator may add oslo.middleware's backends.
    conf.set_default(
        "backends",
        ["allotment_database", "allotment_snapshot"],
        group="healthcheck",
    )
    for group, opts in auth_token_opts.list_auth_token_opts():
        conf.register_opts(opts, group=group)
    policy_opts.set_defaults(conf, "policy.yaml")


def load(args=(), default_config_files=None, default_config_dirs=None):
    """Build a ConfigOpts for the placement project from ``args``.

    ``args`` are command-line style (``--config-file``, ``--config-dir``).
    """
    conf = cfg.ConfigOpts()
    register_opts(conf)
    conf(
        list(args),
        project="placement",
        default_config_files=default_config_files,
        default_config_dirs=default_config_dirs,
    )
    return conf
