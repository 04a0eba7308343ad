"""Routes follow containers: added on start, removed on stop, matched by
host and longest path prefix, and layered over static --route entries."""

from harness import wait_until


def test_label_route_added_then_removed(engine, portico, backends):
    b = backends.run(host="label.test")
    wait_until(lambda: portico.body("label.test") == b.content, 10,
               what="label.test to reach the container")
    r = portico.get("label.test")
    assert r.status == 200
    assert r.body == b.content
    line = portico.wait_log("route added", "host=label.test")
    assert b.name in line
    assert f"127.0.0.1:{b.port}" in line

    engine.docker("stop", b.name)
    wait_until(lambda: portico.status("label.test") == 503, 10,
               what="label.test to return 503 after docker stop")
    portico.wait_log("route removed", "host=label.test")
    assert portico.get("label.test").status == 503


def test_several_hosts_in_one_label(portico, backends):
    b = backends.run(host="one.test, two.test three.test")
    for host in ("one.test", "two.test", "three.test"):
        wait_until(lambda: portico.body(host) == b.content, 10,
                   what=f"{host} to reach the container")


def test_path_longest_prefix_wins(portico, backends):
    root = backends.run(host="paths.test",
                        files={"api/index.html": "root backend api\n"})
    api = backends.run(host="paths.test", labels={"VIRTUAL_PATH": "/api"},
                       files={"api/index.html": "api backend api\n"})
    wait_until(lambda: portico.routed(root.name)
               and portico.routed(api.name), 10,
               what="routes for both containers")

    r = portico.get("paths.test", "/")
    assert r.status == 200
    assert r.body == root.content
    r = portico.get("paths.test", "/api/")
    assert r.status == 200
    assert r.body == b"api backend api\n"
    r = portico.get("paths.test", "/api/index.html")
    assert r.status == 200
    assert r.body == b"api backend api\n"
    r = portico.get("paths.test", "/index.html")
    assert r.status == 200
    assert r.body == root.content


def test_static_route_then_container_wins(engine, portico_factory, backends,
                                          host_server, busybox_www):
    (busybox_www / "index.html").write_text("static upstream\n")
    static = host_server(argv=["busybox", "httpd", "-f", "-p",
                               "127.0.0.1:{port}", "-h", str(busybox_www)])
    portico = portico_factory(
        "--route", f"both.test=http://127.0.0.1:{static.port}",
        "--route", f"only-static.test/files=http://127.0.0.1:{static.port}")
    r = portico.get("both.test")
    assert r.status == 200
    assert r.body == b"static upstream\n"
    (busybox_www / "files").mkdir()
    (busybox_www / "files" / "a.txt").write_text("static file\n")
    r = portico.get("only-static.test", "/files/a.txt")
    assert r.status == 200
    assert r.body == b"static file\n"

    b = backends.run(host="both.test")
    wait_until(lambda: portico.body("both.test") == b.content, 10,
               what="the container route to replace the static one")
    for _ in range(4):
        assert portico.body("both.test") == b.content

    engine.docker("stop", b.name)
    wait_until(lambda: portico.body("both.test") == b"static upstream\n", 10,
               what="the static route to serve again after docker stop")
