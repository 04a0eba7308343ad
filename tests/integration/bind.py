"""Start and stop a real BIND 9 (Debian package `bind9`) serving one zone
on 127.0.0.1, for DNS-01 tests.

    b = start_bind(workdir, port, zone="example.test")
    ... b.key_file, b.key_name, b.secret, b.txt("_acme-challenge.x") ...
    stop_bind(b)

The zone has a wildcard A record to 127.0.0.1 and accepts TXT updates
signed with the generated TSIG key (update-policy zonesub TXT).
"""

import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

NAMED = "/usr/sbin/named"
TSIG_KEYGEN = "/usr/sbin/tsig-keygen"
DIG = "/usr/bin/dig"


@dataclass
class Bind:
    port: int
    zone: str
    workdir: Path
    key_file: str  # tsig-keygen output, readable by --dns-rfc2136-key-file
    key_name: str
    secret: str  # base64
    proc: subprocess.Popen = None

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def txt(self, name):
        """Return the TXT strings BIND serves for name (no recursion)."""
        out = subprocess.run(
            [DIG, "@127.0.0.1", "-p", str(self.port), "+short", "+norec",
             "+time=2", "+tries=2", "TXT", name],
            check=True, capture_output=True, text=True).stdout
        return [line.strip().strip('"') for line in out.splitlines()
                if line.strip()]

    def soa_serial(self):
        out = subprocess.run(
            [DIG, "@127.0.0.1", "-p", str(self.port), "+short", "SOA",
             self.zone], check=True, capture_output=True, text=True).stdout
        return int(out.split()[2])


def _wait_dns(port, proc, zone, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"named exited with {proc.returncode}")
        r = subprocess.run(
            [DIG, "@127.0.0.1", "-p", str(port), "+short", "+time=1",
             "+tries=1", "SOA", zone], capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip():
            return
        time.sleep(0.1)
    raise TimeoutError(f"named not answering on port {port}")


def start_bind(workdir, port, zone="example.test", key_name="portico-key"):
    """Write a configuration, zone file and TSIG key under workdir and start
    named in the foreground on 127.0.0.1:port (UDP and TCP)."""
    d = Path(workdir)
    d.mkdir(parents=True, exist_ok=True)
    key_text = subprocess.run([TSIG_KEYGEN, "-a", "hmac-sha256", key_name],
                              check=True, capture_output=True,
                              text=True).stdout
    key_file = d / "tsig.key"
    key_file.write_text(key_text)
    secret = re.search(r'secret "([^"]+)"', key_text).group(1)
    (d / f"{zone}.db").write_text(
        "$TTL 60\n"
        f"@ IN SOA ns.{zone}. admin.{zone}. 1 60 60 600 60\n"
        f"@ IN NS ns.{zone}.\n"
        "ns IN A 127.0.0.1\n"
        "@ IN A 127.0.0.1\n"
        "* IN A 127.0.0.1\n")
    (d / "named.conf").write_text(
        f'include "{key_file}";\n'
        "options {\n"
        f'  directory "{d}";\n'
        f'  pid-file "{d}/named.pid";\n'
        f'  session-keyfile "{d}/session.key";\n'
        f'  managed-keys-directory "{d}";\n'
        f"  listen-on port {port} {{ 127.0.0.1; }};\n"
        "  listen-on-v6 { none; };\n"
        "  recursion no;\n"
        "  dnssec-validation no;\n"
        "  notify no;\n"
        "};\n"
        "controls { };\n"
        f'zone "{zone}" {{\n'
        "  type primary;\n"
        f'  file "{d}/{zone}.db";\n'
        f'  journal "{d}/{zone}.jnl";\n'
        f"  update-policy {{ grant {key_name} zonesub TXT; }};\n"
        "};\n")
    proc = subprocess.Popen(
        [NAMED, "-g", "-4", "-c", str(d / "named.conf"), "-p", str(port)],
        stdout=open(d / "named.log", "w"), stderr=subprocess.STDOUT)
    b = Bind(port, zone, d, str(key_file), key_name, secret, proc)
    try:
        _wait_dns(port, proc, zone)
    except Exception:
        stop_bind(b)
        raise
    return b


def stop_bind(b):
    """Stop named by pid."""
    if b.proc is not None and b.proc.poll() is None:
        b.proc.terminate()
        try:
            b.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            b.proc.kill()
            b.proc.wait()

