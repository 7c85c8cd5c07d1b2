"""Stress across processes: two ``allotment serve`` processes (two gunicorn
workers each) on one fresh database per backend, eight HTTP clients making,
moving and deleting claims and reshaping a few providers for a bounded time
(tests/scaleout.py; ``ALLOTMENT_SOAK=1`` for the long run).

Afterwards no provider was ever above capacity (sampled from the database
during the run and checked at the end), every provider's usage equals the
sum of its live allocations and the clients' own accounts, no client saw a
generation go backwards, and no request answered 5xx. The run's figures
are printed in the "scale-out stress" section of the terminal summary.
"""

from tests import scaleout


def test_stress_across_processes(backend, make_database_url, tmp_path):
    url = make_database_url(backend)
    config = scaleout.write_config(str(tmp_path / "placement.conf"), url)
    scaleout.db_sync(config)
    servers = [
        scaleout.Server(
            "server%d" % index,
            config,
            str(tmp_path / ("server%d.log" % index)),
        )
        for index in range(scaleout.SERVERS)
    ]
    stress = scaleout.Stress(servers, url, backend)
    try:
        for server in servers:
            server.start()
        stress.start()
        stress.stop.wait(scaleout.DURATION)
        stress.finish()
        database = scaleout.storage_engine.Database(url)
        try:
            stress.check_capacity_in_database(database)
        finally:
            database.dispose()
        stress.final_check()
    finally:
        stress.stop.set()
        for server in servers:
            server.stop()
    stress.summary()
    stats = stress.stats
    if stats.violations or stats.errors:
        print("server logs kept in", scaleout.keep_logs(str(tmp_path)))
    assert not stats.violations, "\n".join(stats.violations[:20])
    assert not stats.errors, stats.errors[:10]  # no 5xx, no lost connection
    assert stats.writes_ok > 0
    assert stats.samples > 0
