"""Portico survives an engine restart and picks up where it left off."""

from harness import wait_until


def test_engine_restart_routes_return(engine, portico, backends):
    kept = backends.run(host="kept.test",
                        args=["--restart", "unless-stopped"])
    wait_until(lambda: portico.body("kept.test") == kept.content, 10,
               what="kept.test to reach the container")

    engine.stop()
    portico.wait_log("engine connection lost", timeout=10)
    assert portico.alive()
    status = portico.status("unknown.test")
    assert status == 503

    engine.start()
    portico.wait_log("engine connection restored", timeout=30)
    wait_until(lambda: portico.body("kept.test") == kept.content, 30,
               what="kept.test to work after the engine restart")

    fresh = backends.run(host="fresh.test")
    wait_until(lambda: portico.body("fresh.test") == fresh.content, 10,
               what="a container started after the restart to be routed")
    assert portico.alive()
