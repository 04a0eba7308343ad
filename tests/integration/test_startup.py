"""Containers that start while Portico starts are not missed."""

import threading

from harness import wait_until


def test_container_started_during_startup(portico_factory, backends):
    started = []
    errors = []

    def run_containers():
        try:
            for i in range(3):
                started.append(backends.run(host=f"race{i}.test",
                                            wait=False))
        except Exception as e:  # reported by the assertion below
            errors.append(e)

    runner = threading.Thread(target=run_containers)
    runner.start()
    portico = portico_factory(wait=False)
    runner.join(60)
    assert errors == []
    portico.wait_ready()
    for i, b in enumerate(started):
        wait_until(lambda: portico.body(f"race{i}.test") == b.content, 15,
                   what=f"race{i}.test to be routed")


def test_restart_finds_running_containers(portico, backends):
    b = backends.run(host="before.test")
    wait_until(lambda: portico.body("before.test") == b.content, 10,
               what="before.test to be routed")
    port = portico.port
    assert portico.stop() == 0
    portico.start()
    assert portico.port == port
    wait_until(lambda: portico.body("before.test") == b.content, 10,
               what="before.test to be routed after a Portico restart")
