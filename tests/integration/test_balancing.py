"""Replicas behind one host share the traffic."""

from harness import wait_until


def test_replicas_both_used(portico, backends):
    a = backends.run(host="rr.test")
    b = backends.run(host="rr.test")
    wait_until(lambda: portico.routed(a.name)
               and portico.routed(b.name), 10,
               what="routes for both replicas")
    bodies = []
    for _ in range(4):
        r = portico.get("rr.test")
        assert r.status == 200
        bodies.append(r.body)
    assert set(bodies) == {a.content, b.content}
