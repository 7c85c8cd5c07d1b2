"""Configuration: reference option names, defaults and environment
overrides."""

import pytest
from sqlalchemy import exc as sa_exc

from allotment import config
from allotment.storage import engine


def test_reference_defaults():
    conf = config.load([], default_config_files=[])
    assert conf.api.auth_strategy == "keystone"
    assert conf.placement.max_allocation_candidates == -1
    assert conf.placement.allocation_candidates_generation_strategy == (
        "depth-first"
    )
    assert conf.placement.incomplete_consumer_project_id == (
        "00000000-0000-0000-0000-000000000000"
    )
    assert conf.placement.allocation_conflict_retry_count == 10
    assert conf.placement_database.sync_on_startup is False
    assert conf.workarounds.optimize_for_wide_provider_trees is False
    assert conf.oslo_policy.policy_file == "policy.yaml"
    assert conf.cors.allowed_origin is None
    assert conf.keystone_authtoken.www_authenticate_uri is None


def test_existing_placement_conf_is_read(tmp_path):
    path = tmp_path / "placement.conf"
    path.write_text(
        "[api]\nauth_strategy = noauth2\n"
        "[placement_database]\nconnection = sqlite:////tmp/x.db\n"
        "max_pool_size = 7\n"
        "[placement]\nrandomize_allocation_candidates = true\n"
        "[oslo_policy]\nenforce_new_defaults = true\n"
        "[keystone_authtoken]\nwww_authenticate_uri = http://k:5000\n"
    )
    conf = config.load(["--config-file", str(path)])
    assert conf.api.auth_strategy == "noauth2"
    assert conf.placement_database.max_pool_size == 7
    assert conf.placement.randomize_allocation_candidates is True
    assert conf.oslo_policy.enforce_new_defaults is True
    assert conf.keystone_authtoken.www_authenticate_uri == "http://k:5000"


def test_environment_overrides(monkeypatch, tmp_path):
    path = tmp_path / "placement.conf"
    path.write_text("[placement]\nmax_allocation_candidates = 5\n")
    monkeypatch.setenv("OS_PLACEMENT__MAX_ALLOCATION_CANDIDATES", "50")
    monkeypatch.setenv(
        "OS_PLACEMENT_DATABASE__CONNECTION", "postgresql://p@h/db"
    )
    conf = config.load(["--config-file", str(path)])
    assert conf.placement.max_allocation_candidates == 50
    assert conf.placement_database.connection == "postgresql://p@h/db"


def test_startup_retries_an_unreachable_database(caplog):
    db = engine.Database("postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(sa_exc.OperationalError):
        db.wait_until_reachable(max_retries=2, interval=0)
    assert caplog.text.count("database unreachable") == 2
