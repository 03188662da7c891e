#!/usr/bin/env python3
"""report.py - turn bench/run's results.tsv into the markdown report (stdout).

usage: report.py RESULTS.TSV

Input lines: "METRIC<TAB>WHO<TAB>RUN<TAB>VALUE", plus "info<TAB>KEY<TAB>-<TAB>TEXT" (the
header) and "note<TAB>-<TAB>-<TAB>TEXT" (failures, skipped parts). Each cell of the
table is the median over the runs (with min-max when there are several); ratios and
targets use the medians. A ratio column says how many times better lithfs is than the
other column (for times: the other's time / lithfs's time), so > 1 always favours lithfs.
"""
import statistics
import sys
from collections import defaultdict

# metric, label, unit, higher is better
METRICS = [
    ("seq_cold", "(a) cold sequential read of 1 GiB", "MB/s", True),
    ("seq_warm", "(b) warm read, same mount", "MB/s", True),
    ("seq_remount", "(b) warm read after a remount", "MB/s", True),
    ("rand_cold", "(c) random 4 KiB reads, cold", "IOPS", True),
    ("rand_warm", "(c) random 4 KiB reads, warm (after the remount)", "IOPS", True),
    ("seq_cached", "lithfs: share of the object in its cache after (a) + (b)", "%", True),
    ("rand_cached", "lithfs: share of the object in its cache after (c) cold", "%", True),
    ("write", "(d) sequential write of 1 GiB (until complete in S3)", "MB/s", True),
    ("write_close", "(d) the same, until close() returned", "MB/s", True),
    ("small_create", "(e) create 1,000 files of 4 KiB (until in S3)", "s", False),
    ("small_ls", "(e) `ls -l` of the 1,000 (new mount)", "s", False),
    ("small_read", "(e) read the 1,000 (new mount)", "s", False),
    ("ls10k", "(f) `ls -l` of 10,000 keys made out of band (new mount)", "s", False),
    ("two_readers", "(g) two processes read the same 1 GiB at once (each)", "MB/s", True),
]
RSS = [
    ("rss_seq", "cold + warm 1 GiB read"),
    ("rss_remount", "read after remount (+ warm fio for lithfs)"),
    ("rss_rand", "cold fio"),
    ("rss_write", "1 GiB write"),
    ("rss_small", "1,000 small files created"),
    ("rss_ls10k", "ls -l of 10,000 keys"),
    ("rss_two", "two readers"),
]
WHO = ["curl1", "curl8", "awscli", "lithfs", "s3fs", "rclone"]
HEAD = {"curl1": "curl x1", "curl8": "curl x8 (limit)", "awscli": "aws s3 cp"}


def load(path):
    vals = defaultdict(list)
    info, notes = [], []
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 4:
                continue
            metric, who, _run, value = parts
            if metric == "info":
                info.append((who, value))
            elif metric == "note":
                notes.append(value)
            else:
                vals[(metric, who)].append(float(value))
    return vals, info, notes


def med(vals, metric, who):
    v = vals.get((metric, who))
    return statistics.median(v) if v else None


def fmt(x, unit=""):
    if x is None:
        return "-"
    if unit == "s":
        return "%.2f" % x
    return "%.0f" % x if abs(x) >= 100 else "%.1f" % x


def cell(vals, metric, who, unit):
    v = vals.get((metric, who))
    if not v:
        return "-"
    s = fmt(statistics.median(v), unit)
    if len(v) > 1:
        s += " (%s-%s)" % (fmt(min(v), unit), fmt(max(v), unit))
    return s


def better(a, b, higher):
    """How many times a is better than b."""
    if a is None or b is None or a == 0 or b == 0:
        return None
    return a / b if higher else b / a


def xfmt(r):
    return "-" if r is None else "%.2fx" % r


def limit_of(metric):
    if metric.startswith("seq") or metric == "two_readers":
        return "curl8"
    if metric.startswith("write"):
        return "awscli"
    return None


def main_table(vals):
    out = ["| workload | unit | " + " | ".join(HEAD.get(w, w) for w in WHO)
           + " | lithfs / limit | lithfs vs s3fs | lithfs vs rclone |",
           "|---|---|" + "---|" * (len(WHO) + 3)]
    for metric, label, unit, higher in METRICS:
        if not any((metric, w) in vals for w in WHO):
            continue
        row = [label, unit] + [cell(vals, metric, w, unit) for w in WHO]
        lt = med(vals, metric, "lithfs")
        lim = limit_of(metric)
        row.append(xfmt(better(lt, med(vals, "seq_cold" if metric == "two_readers"
                                           else metric, lim), higher)) if lim else "-")
        row.append(xfmt(better(lt, med(vals, metric, "s3fs"), higher)))
        row.append(xfmt(better(lt, med(vals, metric, "rclone"), higher)))
        out.append("| " + " | ".join(row) + " |")
    return out


def rss_table(vals):
    out = ["| peak RSS (VmHWM, MiB) during | lithfs | s3fs | rclone |", "|---|---|---|---|"]
    for metric, label in RSS:
        if any((metric, w) in vals for w in ("lithfs", "s3fs", "rclone")):
            out.append("| %s | %s |" % (label, " | ".join(
                cell(vals, metric, w, "MiB") for w in ("lithfs", "s3fs", "rclone"))))
    return out


def target_rows(vals):
    m = lambda metric, who: med(vals, metric, who)  # noqa: E731
    lt = lambda metric: m(metric, "lithfs")  # noqa: E731
    peers = [x for x in (m("seq_cold", "s3fs"), m("seq_cold", "rclone")) if x]
    best_peer = max(peers) if peers else None
    # (text, got, want, ok): got/want as "lithfs's ratio" and the ratio required
    rows = [
        ("cold sequential read >= 0.9x curl x8", better(lt("seq_cold"), m("seq_cold", "curl8"), True), 0.9),
        ("cold sequential read >= 1.5x the better of s3fs and rclone", better(lt("seq_cold"), best_peer, True), 1.5),
        ("warm read after remount >= 3x the cold read", better(lt("seq_remount"), lt("seq_cold"), True), 3.0),
        ("cold random 4 KiB IOPS >= 2x s3fs", better(lt("rand_cold"), m("rand_cold", "s3fs"), True), 2.0),
        ("warm random 4 KiB IOPS >= 10x cold", better(lt("rand_warm"), lt("rand_cold"), True), 10.0),
        ("1,000 small files created >= 2x faster than s3fs", better(lt("small_create"), m("small_create", "s3fs"), False), 2.0),
        ("`ls -l` of 10,000 keys in <= 0.3x s3fs's time", better(lt("ls10k"), m("ls10k", "s3fs"), False), 1 / 0.3),
        ("sequential write >= 0.8x `aws s3 cp`", better(lt("write"), m("write", "awscli"), True), 0.8),
    ]
    out = ["| target | lithfs's ratio | required | met? |", "|---|---|---|---|"]
    for text, got, want in rows:
        ok = "n/a" if got is None else ("yes" if got >= want else "**NO**")
        out.append("| %s | %s | %s | %s |" % (text, xfmt(got), "%.2fx" % want, ok))
    rss = m("rss_seq", "lithfs")
    ok = "n/a" if rss is None else ("yes" if rss <= 128 else "**NO**")
    out.append("| lithfs peak RSS during the 1 GiB read <= 128 MiB | %s MiB | 128 MiB | %s |"
               % (fmt(rss), ok))
    return out


def main():
    vals, info, notes = load(sys.argv[1])
    runs = max((len(v) for v in vals.values()), default=0)
    out = ["# lithfs benchmark", ""]
    out += ["- %s: %s" % (k, v) for k, v in info]
    out += ["", "Each cell: median over the runs (min-max). MB = 10^6 bytes. "
            "Ratios: how many times better lithfs is (for times: the other's time / "
            "lithfs's time), so > 1 favours lithfs. \"limit\" = 8 parallel ranged curl GETs "
            "for reads, `aws s3 cp` for writes. Up to %d run(s) per cell." % runs, ""]
    out += main_table(vals) + [""] + rss_table(vals) + ["", "## Targets (medians)", ""]
    out += target_rows(vals)
    if notes:
        out += ["", "## Notes from the run", ""] + ["- " + n for n in notes]
    print("\n".join(out))


if __name__ == "__main__":
    main()
