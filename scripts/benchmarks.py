#!/usr/bin/env python3
"""Runs the benchmark matrix of BENCHMARKS.md and prints its tables (medians of N runs).

Usage: scripts/benchmarks.py [--runs 3] [--postgres postgres://postgres@127.0.0.1:5432/test]
                             [--bin target/release/hookshape] [--scale 10000000]
                             [--only-common | --only-scale]
Needs a release build (`cargo build --release`) and, for the PostgreSQL rows, a server
where it may create and drop schemas named hs_bench_*. `--bin` runs another build (an
older commit's, for a before/after in one sitting); `--only-common` leaves out the rows an
older build cannot run (fairness, scale); `--only-scale` runs the scale table alone.
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import uuid

BIN = "target/release/hookshape"


def bench(args, postgres=None):
    global BIN
    schema = None
    if postgres is not None:
        schema = "hs_bench_" + uuid.uuid4().hex[:12]
        psql(postgres, f"CREATE SCHEMA {schema}")
        sep = "&" if "?" in postgres else "?"
        args = args + ["--store", f"{postgres}{sep}options=-c%20search_path%3D{schema}"]
    try:
        out = subprocess.run([BIN, "bench", "--json", *args], capture_output=True, text=True, check=True)
        return json.loads(out.stdout)
    finally:
        if schema:
            psql(postgres, f"DROP SCHEMA {schema} CASCADE")


def psql(url, sql):
    subprocess.run(["psql", url, "-qc", sql], check=True, capture_output=True)


def median(runs, *path):
    values = []
    for r in runs:
        for key in path:
            r = r[key] if r is not None else None
        if r is not None:
            values.append(r)
    return statistics.median(values) if values else float("nan")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/test")
    p.add_argument("--bin", default=BIN)
    p.add_argument("--scale", type=int, default=10_000_000)
    p.add_argument("--only-common", action="store_true")
    p.add_argument("--only-scale", action="store_true")
    a = p.parse_args()
    globals()["BIN"] = a.bin

    rows = [
        ("fan-out 1, SQLite", ["--events", "20000", "--ceiling"], None),
        ("fan-out 10, SQLite", ["--events", "4000", "--fan-out", "10", "--ceiling"], None),
        ("1,000 events/s fixed rate, SQLite", ["--events", "20000", "--rate", "1000", "--ceiling"], None),
        ("fan-out 1, PostgreSQL, 1 node", ["--events", "20000", "--ceiling"], a.postgres),
        ("fan-out 1, PostgreSQL, 2 nodes", ["--events", "20000", "--nodes", "2", "--ceiling"], a.postgres),
    ]
    if not a.only_common:
        rows.append(("fairness: 100 events/s beside 300 hanging deliveries, SQLite",
                     ["--rate", "100", "--duration", "30s", "--slow-subscription", "300", "--ceiling"], None))
    if not a.only_scale:
        common(a, rows)
    if not a.only_common:
        scale(a)


def common(a, rows):
    """The configurations' table, then the queue with the receiver down."""
    print("| configuration | events accepted/s | deliveries/s | ceiling req/s | % of ceiling "
          "| p50 ms | p90 ms | p99 ms | max ms | peak RSS MiB | server CPU s | CPU µs/delivery |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, args, pg in rows:
        runs = []
        for i in range(a.runs):
            print(f"{name}: run {i + 1}/{a.runs}", file=sys.stderr)
            runs.append(bench(args, pg))
        print(f"| {name} | {median(runs, 'events_accepted_per_s'):.0f} | {median(runs, 'deliveries_per_s'):.0f} "
              f"| {median(runs, 'ceiling_per_s'):.0f} | {100 * median(runs, 'ratio_to_ceiling'):.1f}% "
              f"| {median(runs, 'latency', 'p50_ms'):.2f} | {median(runs, 'latency', 'p90_ms'):.2f} "
              f"| {median(runs, 'latency', 'p99_ms'):.2f} | {median(runs, 'latency', 'max_ms'):.1f} "
              f"| {median(runs, 'server_peak_rss_mib'):.1f} | {median(runs, 'server_cpu_s'):.1f} "
              f"| {statistics.median(1e6 * r['server_cpu_s'] / max(r['deliveries_arrived'], 1) for r in runs):.0f} |")
        sys.stdout.flush()

    print()
    print("| queue with the receiver down | events accepted/s | deliveries pending | peak RSS MiB |")
    print("|---|---:|---:|---:|")
    runs = []
    for i in range(a.runs):
        print(f"1,000,000 pending: run {i + 1}/{a.runs}", file=sys.stderr)
        runs.append(bench(["--events", "100000", "--fan-out", "10", "--receiver-down"]))
    print(f"| 100,000 events × fan-out 10, SQLite | {median(runs, 'events_accepted_per_s'):.0f} "
          f"| {median(runs, 'deliveries_pending'):.0f} | {median(runs, 'server_peak_rss_mib'):.1f} |")


def scale(a):
    # Scale: the same load on an empty store and on one with a long history, alternately.
    # The long history is filled once and kept: each run adds only its 20,000 deliveries.
    print()
    print("| history before the run | runs | deliveries/s | ceiling req/s | % of ceiling | p99 ms "
          "| CPU µs/delivery |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    results = {0: [], a.scale: []}
    with tempfile.TemporaryDirectory() as kept:
        store = f"sqlite://{kept}/history.db"
        for i in range(a.runs):
            for prefill in (0, a.scale):
                print(f"scale: {prefill} finished deliveries, run {i + 1}/{a.runs}", file=sys.stderr)
                args = ["--events", "20000", "--ceiling"]
                if prefill:
                    args += ["--store", store] + (["--prefill", str(prefill)] if i == 0 else [])
                results[prefill].append(bench(args))
    for prefill, runs in results.items():
        print(f"| {prefill:,} finished deliveries | {len(runs)} | {median(runs, 'deliveries_per_s'):.0f} "
              f"| {median(runs, 'ceiling_per_s'):.0f} | {100 * median(runs, 'ratio_to_ceiling'):.1f}% "
              f"| {median(runs, 'latency', 'p99_ms'):.2f} "
              f"| {statistics.median(1e6 * r['server_cpu_s'] / max(r['deliveries_arrived'], 1) for r in runs):.0f} |")

if __name__ == "__main__":
    main()
