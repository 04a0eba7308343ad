"""Command-line behaviour: --print-routes, bad options, --version."""

import re
import subprocess

import pytest

from harness import REPO, free_port, portico_binary, wait_until


def run_portico(*args, env=None, timeout=20):
    return subprocess.run([portico_binary(), *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_print_routes_lists_routes_and_skipped(engine, backends):
    routed = backends.run(host="printed.test")
    skipped = backends.run(host="skipped.test", virtual_port=False,
                           args=["--expose", "8080", "--expose", "9090"])
    static_port = free_port()
    cp = run_portico("--docker-host", engine.host,
                     "--host-network-address", "127.0.0.1",
                     "--route", f"static-print.test=http://127.0.0.1:{static_port}",
                     "--print-routes")
    assert cp.returncode == 0, cp.stderr
    out = cp.stdout
    assert "printed.test" in out
    assert f"127.0.0.1:{routed.port}" in out
    assert "static-print.test" in out
    assert f"127.0.0.1:{static_port}" in out
    skipped_lines = [line for line in out.splitlines()
                     if skipped.name in line]
    assert skipped_lines, out
    assert "8080" in skipped_lines[0]
    assert "9090" in skipped_lines[0]


@pytest.mark.parametrize("option,value", [
    ("--workers", "abc"),
    ("--log-level", "loud"),
    ("--log-format", "xml"),
    ("--http-listen", "nowhere"),
])
def test_bad_option_value_exits_2(option, value):
    cp = run_portico(option, value, "--print-routes")
    assert cp.returncode == 2
    assert option in cp.stderr


def test_unknown_option_exits_2():
    cp = run_portico("--no-such-option")
    assert cp.returncode == 2
    assert "--no-such-option" in cp.stderr


def test_bad_env_value_exits_2():
    cp = run_portico("--print-routes", env={"PORTICO_WORKERS": "abc"})
    assert cp.returncode == 2
    assert "PORTICO_WORKERS" in cp.stderr or "--workers" in cp.stderr


def test_version_prints_project_version():
    meson = (REPO / "meson.build").read_text()
    version = re.search(r"version\s*:\s*'([^']+)'", meson).group(1)
    cp = run_portico("--version")
    assert cp.returncode == 0
    assert version in cp.stdout


def test_second_instance_on_same_port_exits_1(portico_factory):
    """The workers bind with SO_REUSEPORT; a second Portico on the same
    address must fail instead of silently sharing the port."""
    first = portico_factory()
    second = portico_factory(port=first.port, wait=False)
    wait_until(lambda: not second.alive(), 10,
               what="the second instance to exit")
    assert second.proc.returncode == 1
    assert "address already in use by another process" in second.stderr()
    assert first.alive()
    assert first.get("unknown.test").status == 503


def help_options():
    out = subprocess.run([portico_binary(), "--help"], capture_output=True,
                         text=True, check=True).stdout
    return set(re.findall(r"^  (--[a-z0-9-]+)", out, re.M))


def readme_options():
    text = (REPO / "README.md").read_text()
    table = text.split("\n## Options\n", 1)[1].split("\n## ", 1)[0]
    found = set()
    for line in table.splitlines():
        if line.startswith("| `--"):
            first_cell = line.split(" | ")[0]
            found.update(re.findall(r"`(--[a-z0-9-]+)", first_cell))
    return found


def test_help_and_readme_list_same_options():
    """Every option in --help has a row in the README's options table, and
    the table documents no option that does not exist."""
    in_help = help_options()
    in_readme = readme_options()
    assert len(in_help) > 40
    assert in_help - in_readme == set()
    assert in_readme - in_help == set()


def test_every_option_reads_its_environment_variable():
    """PORTICO_<NAME> is read for every option that takes a value: a bad
    value in it exits 2 naming that variable."""
    out = subprocess.run([portico_binary(), "--help"], capture_output=True,
                         text=True, check=True).stdout
    valued = re.findall(r"^  (--[a-z0-9-]+) \S", out, re.M)
    assert len(valued) > 30
    for option in valued:
        if option in ("--route", "--trusted-proxies"):
            continue  # lists, which may be empty
        var = "PORTICO_" + option[2:].upper().replace("-", "_")
        env = {"PATH": "/usr/bin:/bin", var: ""}
        cp = subprocess.run([portico_binary(), "--version"], env=env,
                            capture_output=True, text=True)
        assert cp.returncode == 2, f"{var}='' was accepted"
        assert var in cp.stderr, cp.stderr
