#!/usr/bin/env python3
"""Runs the benchmark scenarios of BENCHMARKS.md and prints their tables.

Each row is one real run: the median run of --runs (by share of the ceiling, or by
deliveries/s without one), printed whole; never medians taken column by column.

Usage: scripts/benchmarks.py [--runs 3] [--postgres postgres://postgres@127.0.0.1:5432/postgres]
                             [--bin target/release/hookshape] [--only main|growth|scale]
Needs a release build (`cargo build --release`) and, for the PostgreSQL rows, a server
where it may create and drop databases named hs_bench_* (each run gets a new one).
`--bin` runs another build (an older commit's, for a before/after in one sitting).
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import uuid
from urllib.parse import urlsplit, urlunsplit

BIN = "target/release/hookshape"


def bench(args, postgres=None):
    """One `hookshape bench --json` run; on PostgreSQL in a database of its own."""
    db = None
    if postgres is not None:
        db = "hs_bench_" + uuid.uuid4().hex[:12]
        psql(postgres, f"CREATE DATABASE {db}")
        args = args + ["--store", with_database(postgres, db)]
    try:
        out = subprocess.run([BIN, "bench", "--json", *args], capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"bench {' '.join(args)} failed:\n{out.stderr[-2000:]}")
        return json.loads(out.stdout)
    finally:
        if db:
            psql(postgres, f"DROP DATABASE {db} WITH (FORCE)")


def with_database(url, db):
    u = urlsplit(url)
    return urlunsplit((u.scheme, u.netloc, "/" + db, u.query, u.fragment))


def psql(url, sql):
    subprocess.run(["psql", url, "-qc", sql], check=True, capture_output=True)


def median_run(runs):
    key = (lambda r: r["ratio_to_ceiling"]) if all(r.get("ratio_to_ceiling") for r in runs) \
        else (lambda r: r["deliveries_per_s"])
    return sorted(runs, key=key)[len(runs) // 2]


def fmt(v, spec):
    return "–" if v is None else format(v, spec)


def cpu_us(r):
    return 1e6 * r["server_cpu_s"] / max(r["deliveries_arrived"], 1)


def machine(postgres):
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next((int(l.split()[1]) // 1024 // 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
    print(f"- machine: {os.cpu_count()} vCPUs ({cpu}), {mem} GiB, Linux {platform.release()}")
    if postgres:
        q = ("SELECT version(), current_setting('autovacuum'), current_setting('synchronous_commit'), "
             "current_setting('shared_buffers'), current_setting('fsync')")
        out = subprocess.run(["psql", postgres, "-Atc", q], capture_output=True, text=True).stdout.strip()
        v, av, sc, sb, fs = out.split("|")
        print(f"- PostgreSQL: {v.split(' on ')[0]}; autovacuum={av}, synchronous_commit={sc}, "
              f"shared_buffers={sb}, fsync={fs}")
    print()


def main_table(a):
    pg = a.postgres
    rows = [
        ("fan-out 1, SQLite", ["--duration", a.duration, "--ceiling"], None),
        ("fan-out 10, SQLite", ["--duration", a.duration, "--fan-out", "10", "--ceiling"], None),
        ("1,000 events/s, SQLite", ["--duration", a.duration, "--rate", "1000", "--ceiling"], None),
        ("fan-out 1, PostgreSQL, 1 node", ["--duration", a.duration, "--ceiling"], pg),
        ("fan-out 10, PostgreSQL, 1 node", ["--duration", a.duration, "--fan-out", "10", "--ceiling"], pg),
        ("fan-out 1, PostgreSQL, 2 nodes", ["--duration", a.duration, "--nodes", "2", "--ceiling"], pg),
        ("fan-out 1, PostgreSQL, 3 nodes", ["--duration", a.duration, "--nodes", "3", "--ceiling"], pg),
    ]
    print("| scenario (median of runs) | deliveries/s | ceiling req/s | % of ceiling | p50 ms | p99 ms "
          "| hookshape CPU µs/delivery | PostgreSQL CPU µs/delivery | WAL bytes/delivery | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, args, store in rows:
        runs = []
        for i in range(a.runs):
            print(f"{name}: run {i + 1}/{a.runs}", file=sys.stderr)
            runs.append(bench(args, store))
        r = median_run(runs)
        costs = (r.get("runs") or [{}])[0].get("postgres") or {}
        lat = r.get("latency") or {}
        print(f"| {name} | {r['deliveries_per_s']:.0f} | {fmt(r.get('ceiling_per_s'), '.0f')} "
              f"| {fmt(100 * r['ratio_to_ceiling'] if r.get('ratio_to_ceiling') else None, '.1f')}% "
              f"| {fmt(lat.get('p50_ms'), '.2f')} | {fmt(lat.get('p99_ms'), '.2f')} | {cpu_us(r):.0f} "
              f"| {fmt(1000 * costs['cpu_ms_per_delivery'] if costs.get('cpu_ms_per_delivery') else None, '.0f')} "
              f"| {fmt(costs.get('wal_bytes_per_delivery'), '.0f')} | {r['server_peak_rss_mib']:.1f} |")
        sys.stdout.flush()


def growth(a):
    """Ten runs in a row on one store: throughput and sizes as the history grows."""
    r = bench(["--duration", a.duration, "--repeat", "10", "--ceiling"], a.postgres)
    print(json.dumps({"runs": r["runs"], "spread": r.get("spread"), "postgres": r.get("postgres")}, indent=1))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--duration", default="15s")
    p.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--bin", default=BIN)
    p.add_argument("--only", choices=["main", "growth"], default="main")
    a = p.parse_args()
    globals()["BIN"] = a.bin
    machine(a.postgres)
    {"main": main_table, "growth": growth}[a.only](a)


if __name__ == "__main__":
    main()
