"""Print the markdown tables of a bench/run.sh run.

Usage: report.py RESULTS_TSV [LIVE_TSV]

RESULTS_TSV has one line per measurement, tab-separated, with a header:
load target round requests seconds p50_us p99_us cpu_us hwm_kib errors
Each figure is the median over the rounds, except peak RSS, which is the
maximum. Ratios compare with the target named "nginx" of the same load.
LIVE_TSV (from live.py) has run, direct_ms, routed_ms and removed_ms.
"""

import csv
import statistics
import sys

BASELINE = "nginx"
# Table order; targets not listed follow in the order they first appear.
TARGET_ORDER = ["nginx", "nginx-aa", "haproxy", "portico"]


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def summarize(rows):
    """Return {(load, target): figures}, loads in first-seen order."""
    loads, targets, groups = [], [], {}
    for row in rows:
        if row["load"] not in loads:
            loads.append(row["load"])
        if row["target"] not in targets:
            targets.append(row["target"])
        groups.setdefault((row["load"], row["target"]), []).append(row)
    ranked = sorted(targets, key=lambda t: (
        TARGET_ORDER.index(t) if t in TARGET_ORDER else len(TARGET_ORDER),
        targets.index(t)))
    groups = {(load, target): groups[(load, target)]
              for load in loads for target in ranked
              if (load, target) in groups}
    result = {}
    for key, runs in groups.items():
        rps = [int(r["requests"]) / float(r["seconds"]) for r in runs]
        cpu = [int(r["cpu_us"]) / max(int(r["requests"]), 1) for r in runs]
        result[key] = {
            "rps": statistics.median(rps),
            "rps_spread": (max(rps) - min(rps)) / statistics.median(rps),
            "p50": statistics.median(int(r["p50_us"]) for r in runs) / 1000,
            "p99": statistics.median(int(r["p99_us"]) for r in runs) / 1000,
            "cpu": statistics.median(cpu),
            "cpu_spread": (max(cpu) - min(cpu)) / statistics.median(cpu),
            "rss": max(int(r["hwm_kib"]) for r in runs) / 1024,
            "errors": sum(int(r["errors"]) for r in runs),
            "rounds": len(runs),
        }
    return result


def format_ratio(value, base):
    if base is None or base == 0:
        return "-"
    return f"{value / base:.2f}"


def print_load_table(figures):
    print("| Load | Proxy | req/s | vs nginx | spread | p50 ms | p99 ms "
          "| CPU µs/req | vs nginx | spread | peak RSS MiB | vs nginx "
          "| errors |")
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for (load, target), f in figures.items():
        base = figures.get((load, BASELINE))
        print(f"| {load} | {target} "
              f"| {f['rps']:.0f} "
              f"| {format_ratio(f['rps'], base and base['rps'])} "
              f"| {f['rps_spread'] * 100:.0f}% "
              f"| {f['p50']:.2f} | {f['p99']:.2f} "
              f"| {f['cpu']:.1f} "
              f"| {format_ratio(f['cpu'], base and base['cpu'])} "
              f"| {f['cpu_spread'] * 100:.0f}% "
              f"| {f['rss']:.1f} "
              f"| {format_ratio(f['rss'], base and base['rss'])} "
              f"| {f['errors']} |")


def print_live_table(path):
    rows = read_rows(path)
    print("| Measure | runs | median ms | max ms | missed |")
    print("|---|--:|--:|--:|--:|")
    labels = [
        ("direct_ms", "`docker run -d` → first 200 from the container"),
        ("routed_ms", "`docker run -d` → first 200 through Portico"),
        ("removed_ms", "`docker rm -f` → Portico stops routing"),
    ]
    for column, label in labels:
        values = [float(r[column]) for r in rows if r[column] != "timeout"]
        missed = len(rows) - len(values)
        if not values:
            print(f"| {label} | {len(rows)} | - | - | {missed} |")
            continue
        print(f"| {label} | {len(rows)} | {statistics.median(values):.1f} "
              f"| {max(values):.1f} | {missed} |")


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    figures = summarize(read_rows(sys.argv[1]))
    if figures:
        rounds = max(f["rounds"] for f in figures.values())
        print(f"Medians over {rounds} round(s). Spread is (max - min) / "
              "median over the rounds. Peak RSS is the maximum VmHWM summed "
              "over the proxy's processes.")
        print()
        print_load_table(figures)
    if len(sys.argv) == 3:
        print()
        print_live_table(sys.argv[2])


if __name__ == "__main__":
    main()
