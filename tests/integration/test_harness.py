"""Checks of the test fixtures themselves: they need the engine and helper
servers but not Portico, so a failure here is a harness failure."""

import json

import pytest

from harness import HttpConnection, body_of, can_connect, http_get, \
    http_post_stream

pytestmark = pytest.mark.harness


def test_engine_answers_and_has_image(engine):
    assert engine.ping()
    assert engine.docker("images", "-q", "busybox:local") != ""


def test_backend_serves_own_content(engine, backends):
    a = backends.run(host="harness-a.test")
    b = backends.run(host="harness-b.test")
    r = http_get(a.port, "anything")
    assert r.status == 200
    assert r.body == a.content
    assert body_of(b.port, "anything") == b.content
    assert a.content != b.content
    labels = json.loads(engine.docker("inspect", "-f",
                                      "{{json .Config.Labels}}", a.name))
    assert labels["VIRTUAL_HOST"] == "harness-a.test"
    assert labels["VIRTUAL_PORT"] == str(a.port)


def test_backend_env_form(engine, backends):
    a = backends.run(host="harness-env.test", via="env")
    env = engine.docker("inspect", "-f", "{{json .Config.Env}}", a.name)
    assert "VIRTUAL_HOST=harness-env.test" in json.loads(env)


def test_containers_removed_between_tests(engine):
    assert engine.docker("ps", "-aq") == ""


def test_sink_counts_upload(host_server):
    sink = host_server("sink.py")
    data = b"x" * 100000
    status, body = http_post_stream(sink.port, "sink", "/", len(data),
                                    [data[:50000], data[50000:]])
    assert status == 200
    assert json.loads(body)["bytes"] == 100000


def test_ws_echo_plain_get_gets_426(host_server):
    ws = host_server("ws_echo.py")
    assert http_get(ws.port, "ws").status == 426


def test_host_busybox_serves_folder(host_server, busybox_www):
    (busybox_www / "index.html").write_text("host busybox\n")
    s = host_server(argv=["busybox", "httpd", "-f", "-p",
                          "127.0.0.1:{port}", "-h", str(busybox_www)])
    with HttpConnection(s.port) as conn:
        first = conn.request("GET", "/", "h")
    assert first.body == b"host busybox\n"


def test_engine_restart_keeps_restart_policy(engine, backends):
    a = backends.run(host="harness-restart.test",
                     args=["--restart", "unless-stopped"])
    engine.stop()
    assert not can_connect(a.port)
    engine.start()
    from harness import wait_until
    assert wait_until(lambda: body_of(a.port, "x") == a.content, 20)
