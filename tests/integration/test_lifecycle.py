"""Containers leave and rejoin the rotation as their state changes."""

import json

from harness import body_of, wait_until

HEALTH_ARGS = [
    "--health-cmd", "/bin/busybox wget -q -O- http://127.0.0.1:{port}/ok",
    "--health-interval", "300ms", "--health-timeout", "2s",
    "--health-retries", "1",
]


def only_from(portico, host, backend, n=6):
    """Return True if n requests in a row all reached backend."""
    return all(portico.body(host) == backend.content for _ in range(n))


def start_pair(portico, backends, host, **kw_a):
    a = backends.run(host=host, **kw_a)
    b = backends.run(host=host)
    wait_until(lambda: portico.routed(a.name)
               and portico.routed(b.name), 10,
               what="routes for both replicas")
    return a, b


def test_kill_takes_replica_out(engine, portico, backends):
    a, b = start_pair(portico, backends, "kill.test")
    engine.docker("kill", a.name)
    wait_until(lambda: only_from(portico, "kill.test", b), 10,
               what=f"all traffic to go to {b.name}")
    for _ in range(10):
        r = portico.get("kill.test")
        assert r.status == 200
        assert r.body == b.content


def test_pause_then_unpause(engine, portico, backends):
    a, b = start_pair(portico, backends, "pause.test")
    engine.docker("pause", a.name)
    wait_until(lambda: only_from(portico, "pause.test", b), 15,
               what=f"all traffic to go to {b.name} while {a.name} is paused")
    for _ in range(6):
        r = portico.get("pause.test", timeout=3)
        assert r.status == 200
        assert r.body == b.content

    engine.docker("unpause", a.name)
    wait_until(lambda: portico.body("pause.test") == a.content, 10,
               what=f"{a.name} to get traffic after unpause")


def health_status(engine, name):
    state = json.loads(engine.docker("inspect", "-f", "{{json .State}}",
                                     name))
    return state["Health"]["Status"]


def test_healthcheck_gates_traffic(engine, portico, backends):
    checked, plain = start_pair(portico, backends, "health.test",
                                args=HEALTH_ARGS, files={"ok": "ok\n"})
    wait_until(lambda: health_status(engine, checked.name) == "healthy", 10,
               what=f"{checked.name} to become healthy")
    assert body_of(checked.port, "x", "/ok") == b"ok\n"
    wait_until(lambda: portico.body("health.test") == checked.content, 10,
               what=f"healthy {checked.name} to get traffic")

    (checked.www / "ok").unlink()
    wait_until(lambda: health_status(engine, checked.name) == "unhealthy",
               10, what=f"{checked.name} to become unhealthy")
    wait_until(lambda: only_from(portico, "health.test", plain), 10,
               what=f"unhealthy {checked.name} to get no traffic")
    for _ in range(6):
        r = portico.get("health.test")
        assert r.status == 200
        assert r.body == plain.content

    (checked.www / "ok").write_text("ok\n")
    wait_until(lambda: health_status(engine, checked.name) == "healthy", 10,
               what=f"{checked.name} to become healthy again")
    wait_until(lambda: portico.body("health.test") == checked.content, 10,
               what=f"{checked.name} to get traffic again")
