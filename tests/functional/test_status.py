"""placement-status upgrade check (and ``allotment upgrade-check``)."""

import json

import pytest

from allotment.cli import main as allotment_cli
from allotment.cli import manage
from allotment.cli import status
from tests.functional.test_manage import add_stale_rows
from tests.functional.test_manage import write_conf

ALL_GOOD = """\
+-------------------------------------------+
| Upgrade Check Results                     |
+-------------------------------------------+
| Check: Missing Root Provider IDs          |
| Result: Success                           |
| Details: None                             |
+-------------------------------------------+
| Check: Incomplete Consumers               |
| Result: Success                           |
| Details: None                             |
+-------------------------------------------+
| Check: Policy File JSON to YAML Migration |
| Result: Success                           |
| Details: None                             |
+-------------------------------------------+
"""


@pytest.fixture
def conf(database_url, tmp_path):
    path = write_conf(tmp_path, database_url)
    assert manage.main(["--config-file", path, "db", "sync"]) == 0
    return path


def check(conf, *extra):
    return status.main(["--config-file", conf, "upgrade", "check", *extra])


def test_clean_database(conf, capsys):
    assert check(conf) == 0
    assert capsys.readouterr().out == ALL_GOOD


def test_stale_data_then_migrated(conf, database_url, capsys):
    add_stale_rows(database_url, providers=0, consumers=3)
    assert check(conf) == 1
    out = capsys.readouterr().out
    assert "| Check: Incomplete Consumers" in out
    assert "Result: Warning" in out
    assert "There are 3 incomplete consumers table records" in out

    add_stale_rows(database_url, providers=2, consumers=0)
    assert check(conf, "--json") == 2
    answer = json.loads(capsys.readouterr().out)
    assert [(c["check"], c["result"]) for c in answer["checks"]] == [
        ("Missing Root Provider IDs", 2),
        ("Incomplete Consumers", 1),
        ("Policy File JSON to YAML Migration", 0),
    ]
    assert "misses its root provider id" in answer["checks"][0]["details"]

    assert (
        manage.main(["--config-file", conf, "db", "online_data_migrations"])
        == 0
    )
    capsys.readouterr()
    assert check(conf) == 0
    assert capsys.readouterr().out == ALL_GOOD


def test_json_policy_file(sqlite_conf_dir, capsys):
    folder, path = sqlite_conf_dir
    (folder / "policy.json").write_text('{"placement:reshaper:reshape": ""}')
    with open(path, "a") as conf_file:
        conf_file.write(
            "[oslo_policy]\npolicy_file = %s\n" % (folder / "policy.json")
        )
    code = check(path)
    out = capsys.readouterr().out
    assert "| Check: Policy File JSON to YAML Migration" in out
    assert "Your policy file is JSON-formatted" in out
    # oslo.upgradecheck decides how serious this is, as for the reference.
    assert code in (1, 2)


@pytest.fixture
def sqlite_conf_dir(tmp_path):
    path = write_conf(tmp_path, "sqlite:///%s" % (tmp_path / "p.sqlite"))
    assert manage.main(["--config-file", path, "db", "sync"]) == 0
    return tmp_path, path


def test_unreachable_database_is_an_error(tmp_path, capsys):
    path = write_conf(
        tmp_path,
        "sqlite:///%s" % (tmp_path / "no" / "such" / "dir" / "p.sqlite"),
    )
    assert check(path) == 255
    assert capsys.readouterr().out.startswith("Error:\n")


def test_allotment_upgrade_check(sqlite_conf_dir, capsys):
    _folder, path = sqlite_conf_dir
    assert allotment_cli.main(["upgrade-check", "--config-file", path]) == 0
    assert capsys.readouterr().out == ALL_GOOD
