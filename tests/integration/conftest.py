"""Fixtures: one private Docker engine per session, Portico processes,
busybox backend containers and host helper servers, all torn down by pid
even when a test fails."""

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    Backends, Engine, HostProcess, Portico, PYTHON, HERE, free_port,
    make_temp_dir, portico_binary, tail)


def pytest_report_header(config):
    return f"portico binary: {portico_binary()}"


@pytest.fixture(scope="session")
def session_dir(request):
    """A fresh folder for the session, kept only when a test failed so its
    logs can be read."""
    path = make_temp_dir("portico-it.")
    yield path
    if request.session.testsfailed:
        print(f"\nintegration test logs kept in {path}")
    else:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def engine(session_dir):
    """A dockerd of our own with the busybox:local image imported."""
    e = Engine(session_dir / "engine")
    e.dir.mkdir()
    try:
        e.start()
        e.import_image()
        yield e
    finally:
        e.destroy()


@pytest.fixture(autouse=True)
def clean_engine(request):
    """Leave the engine running and empty after every test that used it."""
    yield
    if "engine" not in request.fixturenames:
        return
    e = request.getfixturevalue("engine")
    if not e.running():
        e.start()
    e.remove_all_containers()


@pytest.fixture
def test_dir(request, session_dir):
    path = session_dir / request.node.name.replace("/", "_")[:60]
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def portico_factory(engine, test_dir):
    """Start Portico processes: portico_factory(*args, env=..., wait=...)."""
    started = []

    def start(*args, env=None, wait=True, port=None, docker_host=None):
        workdir = test_dir / f"portico-{len(started)}"
        workdir.mkdir()
        p = Portico(engine, workdir, args, env, port, docker_host)
        started.append(p)
        return p.start(wait=wait)

    yield start
    failures = []
    for p in started:
        try:
            p.stop()
        except AssertionError as e:
            failures.append(e)
        if p.returncode not in (None, 0):
            print(f"portico pid {p.pid} exited with {p.returncode}")
        print(f"--- portico stderr ({p.stderr_path}), last lines:")
        print(tail(p.stderr_path, 30))
    if failures:
        raise failures[0]


@pytest.fixture
def portico(portico_factory):
    """A running Portico on the session engine with default options."""
    return portico_factory()


@pytest.fixture
def backends(engine, test_dir):
    return Backends(engine, test_dir / "www")


@pytest.fixture
def host_server(test_dir):
    """Start helper servers on the host:
    host_server("sink.py", "--stall-after", "1048576") or
    host_server(argv=[...]); each gets a fresh port passed as --port."""
    started = []

    def start(script=None, *args, argv=None):
        port = free_port()
        if argv is None:
            argv = [PYTHON, str(HERE / "servers" / script),
                    "--port", str(port), *args]
        else:
            argv = [a.format(port=port) for a in argv]
        log = test_dir / f"server-{len(started)}.log"
        s = HostProcess(argv, port, log)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


@pytest.fixture
def busybox_www(test_dir):
    """A host folder for a busybox httpd run on the host."""
    path = test_dir / "host-www"
    path.mkdir(exist_ok=True)
    return path


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "harness: checks the fixtures, needs no Portico binary")
