"""Large bodies stream through Portico in both directions without being
buffered whole: 100 MiB each way with a peak RSS under 64 MiB."""

import hashlib
import http.client
import json
import time

from harness import http_post_stream, wait_until, write_random_file

SIZE = 100 * 1024 * 1024
MAX_HWM_KIB = 64 * 1024
STALL_AFTER = 1024 * 1024
STALL_SECONDS = 1.0


def test_download_100mib_streams(portico, backends):
    b = backends.run(host="big.test")
    expected = write_random_file(b.www / "big.bin", SIZE)
    wait_until(lambda: portico.body("big.test") == b.content, 10,
               what="big.test to reach the container")

    conn = http.client.HTTPConnection("127.0.0.1", portico.port, timeout=30)
    conn.request("GET", "/big.bin", headers={"Host": "big.test"})
    r = conn.getresponse()
    assert r.status == 200
    h = hashlib.sha256()
    received = 0
    stalled = False
    while chunk := r.read(65536):
        h.update(chunk)
        received += len(chunk)
        if not stalled and received >= STALL_AFTER:
            # A slow client: a proxy without backpressure would now read
            # the whole file from the loopback upstream into memory.
            stalled = True
            time.sleep(STALL_SECONDS)
    conn.close()

    assert received == SIZE
    assert h.hexdigest() == expected
    hwm = portico.hwm_kib()
    print(f"portico peak RSS {hwm} KiB")
    assert hwm < MAX_HWM_KIB, f"peak RSS {hwm} KiB"


def upload_chunks(h):
    for i in range(SIZE // (1024 * 1024)):
        chunk = i.to_bytes(8, "big") * (1024 * 1024 // 8)
        h.update(chunk)
        yield chunk


def test_upload_100mib_streams(portico_factory, host_server):
    sink = host_server("sink.py", "--stall-after", str(STALL_AFTER),
                       "--stall-ms", str(int(STALL_SECONDS * 1000)))
    portico = portico_factory("--route",
                              f"upload.test=http://127.0.0.1:{sink.port}")
    h = hashlib.sha256()
    status, body = http_post_stream(portico.port, "upload.test", "/upload",
                                    SIZE, upload_chunks(h))
    assert status == 200
    result = json.loads(body)
    assert result["bytes"] == SIZE
    assert result["sha256"] == h.hexdigest()
    hwm = portico.hwm_kib()
    print(f"portico peak RSS {hwm} KiB")
    assert hwm < MAX_HWM_KIB, f"peak RSS {hwm} KiB"
