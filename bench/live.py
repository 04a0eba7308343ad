"""Measure how fast Portico starts and stops routing to a new container.

For each run it starts a busybox httpd container with --network host and
VIRTUAL_HOST/VIRTUAL_PORT set, then polls in a tight loop, one new
connection per request:
  direct_ms   `docker run -d` returned -> the container's port returns 200
  routed_ms   `docker run -d` returned -> Portico returns 200 for the host
  removed_ms  `docker rm -f` returned -> Portico returns neither 200 nor
              502 for the host (502 is a route whose container is gone)
A figure that is not reached within --timeout seconds is written as
"timeout". One unrecorded warm-up run comes first.
"""

import argparse
import http.client
import subprocess
import sys
import time

POLL_INTERVAL = 0.0005  # seconds between polls


def get_status(port, host):
    """Return the status of GET / on 127.0.0.1:PORT, None if none came."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", "/", headers={"Host": host,
                                          "Connection": "close"})
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def docker(args, opts):
    subprocess.run([opts.docker, "-H", f"unix://{opts.socket}"] + args,
                   check=True, timeout=60, stdout=subprocess.DEVNULL)


def start_container(opts, name, host, port):
    docker(["run", "-d", "--name", name, "--network", "host",
            "-e", f"VIRTUAL_HOST={host}", "-e", f"VIRTUAL_PORT={port}",
            "-v", f"{opts.www}:/www:ro", opts.image,
            "/bin/busybox", "httpd", "-f", "-p", f"127.0.0.1:{port}",
            "-h", "/www"], opts)


def wait_routed(opts, host, port):
    """Return (direct_ms, routed_ms), each None if not reached in time."""
    start = time.monotonic()
    deadline = start + opts.timeout
    direct = routed = None
    while time.monotonic() < deadline and (direct is None or routed is None):
        if direct is None and get_status(port, host) == 200:
            direct = (time.monotonic() - start) * 1000
        if routed is None and get_status(opts.proxy_port, host) == 200:
            routed = (time.monotonic() - start) * 1000
        time.sleep(POLL_INTERVAL)
    return direct, routed


def wait_removed(opts, host):
    start = time.monotonic()
    deadline = start + opts.timeout
    while time.monotonic() < deadline:
        status = get_status(opts.proxy_port, host)
        if status is not None and status not in (200, 502):
            return (time.monotonic() - start) * 1000
        time.sleep(POLL_INTERVAL)
    return None


def measure_once(opts, index):
    name = f"portico-bench-live-{index}"
    host = f"live{index}.bench.test"
    port = opts.port_base + index
    start_container(opts, name, host, port)
    try:
        direct, routed = wait_routed(opts, host, port)
    finally:
        docker(["rm", "-f", name], opts)
    removed = wait_removed(opts, host)
    return direct, routed, removed


def format_ms(value):
    return "timeout" if value is None else f"{value:.2f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docker", default="docker", help="docker CLI path")
    parser.add_argument("--socket", required=True, help="dockerd socket path")
    parser.add_argument("--image", required=True,
                        help="image with /bin/busybox")
    parser.add_argument("--www", required=True,
                        help="host folder with index.html, mounted at /www")
    parser.add_argument("--proxy-port", type=int, required=True,
                        help="Portico's HTTP port on 127.0.0.1")
    parser.add_argument("--port-base", type=int, required=True,
                        help="run N's container listens on port-base + N")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=5.0,
                        help="seconds to wait for each figure")
    parser.add_argument("--out", required=True, help="TSV file to write")
    opts = parser.parse_args()

    measure_once(opts, 0)
    with open(opts.out, "w") as out:
        out.write("run\tdirect_ms\trouted_ms\tremoved_ms\n")
        for index in range(1, opts.runs + 1):
            figures = measure_once(opts, index)
            line = "\t".join([str(index)] + [format_ms(v) for v in figures])
            out.write(line + "\n")
            print("live run " + line.replace("\t", " "), file=sys.stderr)


if __name__ == "__main__":
    main()
