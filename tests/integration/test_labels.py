"""Container settings from labels and environment variables."""

from harness import free_port, wait_until


def test_env_form_routes(portico, backends):
    b = backends.run(host="env.test", via="env")
    wait_until(lambda: portico.body("env.test") == b.content, 10,
               what="env.test to reach the container")
    r = portico.get("env.test")
    assert r.status == 200
    assert r.body == b.content


def test_label_wins_over_env(portico, backends):
    wrong_port = free_port()
    b = backends.run(
        labels={"VIRTUAL_HOST": "label-wins.test", "VIRTUAL_PORT": "{port}"},
        env={"VIRTUAL_HOST": "env-loses.test",
             "VIRTUAL_PORT": str(wrong_port)})
    wait_until(lambda: portico.routed(b.name), 10,
               what=f"a route for {b.name}")
    r = portico.get("label-wins.test")
    assert r.status == 200
    assert r.body == b.content
    assert portico.get("env-loses.test").status == 503


def test_portico_labels_route(portico, backends):
    b = backends.run(labels={"portico.host": "portico-label.test",
                             "portico.port": "{port}"})
    wait_until(lambda: portico.body("portico-label.test") == b.content, 10,
               what="portico-label.test to reach the container")


def test_portico_enable_false_skips(portico, backends):
    off = backends.run(host="disabled.test",
                       labels={"portico.enable": "false"})
    on = backends.run(host="enabled.test")
    # Docker delivers events in order, so once the second container is
    # routed the first one has been looked at.
    wait_until(lambda: portico.routed(on.name), 10,
               what=f"a route for {on.name}")
    assert portico.get("disabled.test").status == 503
    assert not portico.routed(off.name)


def test_two_exposed_ports_skipped(portico, backends):
    multi = backends.run(host="multi.test", virtual_port=False,
                         args=["--expose", "8080", "--expose", "9090"])
    good = backends.run(host="good.test")
    line = portico.wait_log(" warn ", multi.name)
    assert "8080" in line
    assert "9090" in line
    wait_until(lambda: portico.body("good.test") == good.content, 10,
               what="good.test to keep working")
    assert portico.get("multi.test").status == 503
    assert not portico.routed(multi.name)
