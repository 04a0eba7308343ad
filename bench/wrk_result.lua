-- Prints one machine-readable line when wrk finishes, with latency
-- percentiles in microseconds (wrk's own summary rounds them to 2 digits).
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "WRK_RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d " ..
        "connect=%d read=%d write=%d status=%d timeout=%d\n",
        summary.requests, summary.duration,
        latency:percentile(50), latency:percentile(99),
        e.connect, e.read, e.write, e.status, e.timeout))
end
