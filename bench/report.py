#!/usr/bin/env python3
"""Turns one bench/run.sh result directory into the markdown table that
docs/performance.md quotes: pgtide against PgBouncer measured in the same
run, with the issue's targets next to each ratio.

usage: report.py RESULT_DIR
"""
import csv
import os
import statistics
import sys

# (scenario prefix, metric, target ratio, better) -- ratio = pgtide / pgbouncer
TARGETS = [
    ("S1-simple", "tps", 1.05, "higher"),
    ("S1-extended", "tps", 1.05, "higher"),
    ("S2-churn-md5", "tps", 1.10, "higher"),
    ("S2-churn-scram", "tps", None, "higher"),
    ("S3-", "tps", 1.05, "higher"),
    ("S3-", "lat_avg", None, "lower"),
    ("S3-", "lat_stddev", 1.0, "lower"),
    ("S4-", "rss_per_client", None, "lower"),
    ("S5-cpu-simple", "cpu_us_per_txn", 0.8, "lower"),
    ("S5-cpu-simple", "syscalls_per_txn", 1.0, "lower"),
    ("S5-cpu-simple", "instr_per_txn", 1.0, "lower"),
    ("S5-cpu-extended", "cpu_us_per_txn", 0.8, "lower"),
    ("S5-cpu-extended", "syscalls_per_txn", 1.0, "lower"),
    ("S5-cpu-extended", "instr_per_txn", 1.0, "lower"),
]


def load_summary(path):
    rows = {}
    if not os.path.exists(path):
        return rows
    with open(path) as f:
        for r in csv.DictReader(f, delimiter="\t"):
            rows[(r["scenario"], r["target"], r["metric"])] = r
    return rows


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def find(rows, prefix, target, metric):
    for (scen, tgt, met), r in rows.items():
        if scen.startswith(prefix) and tgt == target and met == metric:
            return scen, r
    return None, None


def verdict(ratio, goal, better):
    if ratio is None or goal is None:
        return ""
    ok = ratio >= goal if better == "higher" else ratio <= goal
    return "met" if ok else "not met"


def harness_table(rows):
    out = ["| scenario | metric | unit | direct | PgBouncer | pgtide | pgtide / PgBouncer (paired) | target | |",
           "|---|---|---|---|---|---|---|---|---|"]
    for prefix, metric, goal, better in TARGETS:
        scen, pt = find(rows, prefix, "pgtide", metric)
        if not pt:
            continue
        _, pb = find(rows, scen, "pgbouncer", metric)
        _, dr = find(rows, scen, "direct", metric)
        ratio = num(pt.get("paired_ratio_median")) or num(pt.get("ratio_vs_pgbouncer"))
        if metric == "rss_per_client":
            goal_txt, v = "<= 1.0 KiB", num(pt["median"])
            ok = "met" if v is not None and v <= 1.0 else "not met"
        else:
            goal_txt = f"{'>=' if better == 'higher' else '<='} {goal}x" if goal else "info"
            ok = verdict(ratio, goal, better)
        out.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            scen, metric, pt["unit"], dr["median"] if dr else "", pb["median"] if pb else "NA",
            pt["median"], f"{ratio:.3f}" if ratio else "NA", goal_txt, ok))
    return out


def s5_variants_table(d):
    out = []
    for v, what in (("workers1", "workers = 1"), ("tcp", "server over TCP")):
        rows = load_summary(os.path.join(d, f"s5-{v}.tsv"))
        for mode in ("simple", "extended"):
            for metric in ("instr_per_txn", "cpu_us_per_txn", "syscalls_per_txn"):
                scen, pt = find(rows, f"S5-cpu-{mode}", "pgtide", metric)
                if not pt:
                    continue
                _, pb = find(rows, scen, "pgbouncer", metric)
                ratio = num(pt.get("ratio_vs_pgbouncer"))
                out.append("| {} | {} | {} | {} | {} | {} |".format(
                    what, scen, metric, pb["median"] if pb else "NA", pt["median"],
                    f"{ratio:.3f}" if ratio else "NA"))
    if not out:
        return []
    return ["| pgtide | scenario | metric | PgBouncer | pgtide | ratio |", "|---|---|---|---|---|---|"] + out


def multicore_table(path):
    if not os.path.exists(path):
        return []
    tps = {}
    with open(path) as f:
        for r in csv.DictReader(f, delimiter="\t"):
            v = num(r["tps"])
            if v is not None:
                tps.setdefault((r["pooler"], r["cores"]), []).append(v)
    out = ["| pooler | 1 core TPS | 2 cores TPS | gain 2 vs 1 |", "|---|---|---|---|"]
    for p in ("pgbouncer", "pgtide"):
        one, two = tps.get((p, "1")), tps.get((p, "2"))
        if not one or not two:
            continue
        m1, m2 = statistics.median(one), statistics.median(two)
        out.append(f"| {p} | {m1:.0f} | {m2:.0f} | {m2 / m1:.3f} |")
    return out


def main():
    d = sys.argv[1]
    rows = load_summary(os.path.join(d, "summary.tsv"))
    lines = ["# Benchmark results", ""]
    meta = os.path.join(d, "meta.txt")
    if os.path.exists(meta):
        lines += ["```", open(meta).read().strip(), "```", ""]
    if rows:
        lines += ["## S1-S5 (shared harness)", ""] + harness_table(rows) + [""]
    s5v = s5_variants_table(d)
    if s5v:
        lines += ["## S5 variants (each with its own PgBouncer run)", ""] + s5v + [""]
    mc = multicore_table(os.path.join(d, "multicore.tsv"))
    if mc:
        lines += ["## S6 multi-core (pooler pinned with taskset)", ""] + mc + [""]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
