"""`allotment serve` argument handling that needs no server."""

import os
import subprocess

from allotment import serving
from allotment.cli import main


def test_noauth2_refuses_a_public_address(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(serving.MULTIPROC_DIR, raising=False)
    assert main.main(["serve", "--host", "0.0.0.0"]) == 2
    assert "refusing to listen on 0.0.0.0" in caplog.text
    # Its metrics folder is gone with the variable naming it: servers
    # this process starts later make their own.
    assert serving.MULTIPROC_DIR not in os.environ


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


def test_metrics_folder_is_made_and_removed(tmp_path, monkeypatch):
    """Without $PROMETHEUS_MULTIPROC_DIR, serve makes a temporary folder
    for its workers' metrics and, stopping, removes it and the variable;
    folders of servers that died without cleaning up are removed."""
    monkeypatch.delenv(serving.MULTIPROC_DIR, raising=False)
    monkeypatch.setattr(serving.tempfile, "tempdir", str(tmp_path))
    orphan = tmp_path / ("allotment-metrics-%d-x" % _exited_pid())
    orphan.mkdir()
    alive = tmp_path / ("allotment-metrics-%d-y" % os.getppid())
    alive.mkdir()
    remove = serving.metrics_folder()
    folder = os.environ[serving.MULTIPROC_DIR]
    assert os.path.isdir(folder)
    assert not orphan.exists()
    assert alive.exists()
    remove()
    assert not os.path.exists(folder)
    assert serving.MULTIPROC_DIR not in os.environ


def test_given_metrics_folder_is_emptied_and_kept(tmp_path, monkeypatch):
    (tmp_path / "counter_1.db").write_bytes(b"old")
    (tmp_path / "keep.txt").write_text("not ours")
    monkeypatch.setenv(serving.MULTIPROC_DIR, str(tmp_path))
    remove = serving.metrics_folder()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
    remove()
    assert tmp_path.is_dir()
    assert os.environ[serving.MULTIPROC_DIR] == str(tmp_path)


def _exited_pid():
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid
