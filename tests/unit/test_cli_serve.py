"""`allotment serve` argument handling that needs no server."""

from allotment.cli import main


def test_noauth2_refuses_a_public_address(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    assert main.main(["serve", "--host", "0.0.0.0"]) == 2
    assert "refusing to listen on 0.0.0.0" in caplog.text


def test_no_config_means_embedded_sqlite(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = main.build_parser().parse_args(["serve"])
    conf, embedded = main.load_conf(args)
    assert embedded
    assert conf.api.auth_strategy == "noauth2"
    assert conf.placement_database.sync_on_startup is True
    assert conf.placement_database.connection == (
        "sqlite:///%s" % (tmp_path / "data" / "placement.sqlite")
    )


def test_loopback_detection():
    assert main._is_loopback("127.0.0.1")
    assert main._is_loopback("::1")
    assert main._is_loopback("localhost")
    assert not main._is_loopback("10.0.0.1")
    assert not main._is_loopback("")
