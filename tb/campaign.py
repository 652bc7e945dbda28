"""`chimney campaign` (and `make campaign`): a fault-injection campaign, sharded and merged.

    chimney campaign --n 10000 --sim verilator --seed 41      run it all here
    chimney campaign --n 10000 --seed 41 --shard 3/8 --out s3.jsonl   one shard of eight
    chimney campaign merge s*.jsonl --summary build/campaign.json      the shards' report
    chimney campaign ... --dask-local 2 | --scheduler tcp://HOST:8786 run the units on Dask

Injection i depends only on (seed, i) (its class is i mod the class list, `--classes`;
its point is drawn from `--points`), so any split into shards and work units merges
to exactly the unsharded result. Work units of `--unit` injections (one simulator
process each, a cocotb run of tests/cocotb/cocotb_campaign.py) run on a local pool of
`--jobs` processes or on Dask (chimney.tb.executor); a unit that fails is run again.

Outputs: `--out` (JSON Lines, one line per injection in index order: i, seed, sim, n,
class, point, moment, memory, address, bits, fault, outcome, evidence, counters, ...;
nothing that differs between two runs of the same injection, so identical runs write
identical files). An unsharded run and `merge` also write `--summary` (campaign.json,
chimney.tb.campaign_report: outcomes by class, memory and moment, the 95% upper
bounds on the sdc and hang rates, coverage of class x memory x moment with the bins
never hit, every sdc/hang case), the chart next to it (.png) and JUnit XML (.junit.xml,
one case per fault class, failing on any sdc or hang).

Exit status: 0 with no sdc and no hang, 2 with any, 1 when injections are missing.
"""

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

from chimney.tb import simbuild
from chimney.tb.campaign_report import chart, junit, summarise
from chimney.tb.classify import OUTCOMES
from chimney.tb.faults import ALL_CLASSES, FAULT_CLASSES, LEGACY_POINTS, POINTS

UNIT = 25             # injections per work unit: a few seconds of simulation each


def parse_classes(tokens, error=None):
    """['meta_multi,meta_word'] or ['single', 'fsm'] or ['all'] -> a tuple of class names."""
    names = [t for tok in tokens for t in tok.split(",") if t]
    if names == ["all"]:
        return ALL_CLASSES
    bad = [n for n in names if n not in ALL_CLASSES]
    if bad or not names:
        msg = f"unknown fault class(es) {bad}; choose from {', '.join(ALL_CLASSES)} or all"
        if error:
            error(msg)
        raise ValueError(msg)
    return tuple(names)


def parse_shard(text):
    """'K/N' -> (K, N) with 0 <= K < N."""
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard wants K/N (e.g. 0/4), not {text!r}")
    if not 0 <= k < n:
        raise argparse.ArgumentTypeError(f"--shard {text}: K must be in 0..N-1")
    return k, n


def shard_range(n, shard):
    """The injections [lo, hi) of shard (K, N) of an n-injection campaign: a contiguous block."""
    k, count = shard
    return k * n // count, (k + 1) * n // count


def run_injections(sim, seed, out, *, start=0, count=0, only=None, classes=FAULT_CLASSES, points=POINTS,
                   test_dir=None, log_dir=None):
    """Injections start..start+count-1 (or `only`) of campaign `seed` in one simulator
    process; returns their records (dicts, in order). The JSON lines also go to `out`
    (appended). `log_dir`: the simulator's own output goes there, not to the terminal."""
    env = {"CHIMNEY_CAMPAIGN": json.dumps({"seed": seed, "start": start, "count": count, "out": str(out),
                                            "only": list(only) if only else None, "classes": list(classes),
                                            "points": list(points)})}
    simbuild.run(sim, "cocotb_campaign", extra_env=env, test_dir=test_dir, log_dir=log_dir)
    return sorted(read_records([str(out)]), key=lambda r: r["i"])


def read_records(paths):
    records = []
    for path in paths:
        if os.path.exists(path):
            with open(path) as f:
                records += [json.loads(line) for line in f if line.strip()]
    return records


def line(record):
    """One record as its JSON line: keys sorted, so equal records are equal bytes."""
    return json.dumps(record, sort_keys=True)


# --- running ---------------------------------------------------------------------------------
def _progress(total, desc):
    """A progress bar with rate and ETA (tqdm, part of the sim extra), on stderr."""
    try:
        from tqdm import tqdm
    except ImportError:                   # a bare install: counts only
        return None
    return tqdm(total=total, desc=desc, unit="inj", dynamic_ncols=True, smoothing=0.1, file=sys.stderr)


def make_executor(args):
    from chimney.tb.executor import DaskExecutor, LocalExecutor
    if args.scheduler or args.dask_local:
        return DaskExecutor(scheduler=args.scheduler, local_workers=args.dask_local, retries=args.retries)
    return LocalExecutor(args.jobs, retries=args.retries)


def run(args):
    from chimney.tb.executor import Unit, UnitFailed, run_unit, units_of
    lo, hi = shard_range(args.n, args.shard) if args.shard else (0, args.n)
    common = dict(sim=args.sim, seed=args.seed, classes=args.classes, points=args.points)
    units = ([Unit(start=0, count=0, only=tuple(args.only), **common)] if args.only
             else units_of((lo, hi), args.unit, **common))
    wanted = sorted(args.only) if args.only else list(range(lo, hi))
    executor = make_executor(args)
    shard = f", shard {args.shard[0]}/{args.shard[1]} (injections {lo}..{hi - 1})" if args.shard else ""
    print(f"fault campaign: {args.n} injections on {args.sim}, seed {args.seed}{shard}; "
          f"{len(units)} units of <= {args.unit} on {executor.describe()}", flush=True)
    simbuild.build(args.sim)                      # once here, before the units start
    bar = _progress(len(wanted), f"{args.sim} seed {args.seed}")
    counts = Counter()
    records = {}
    started = time.time()
    failed = None
    try:
        for unit, result in executor.run(run_unit, units):
            for r in result:
                records[r["i"]] = dict(r, seed=args.seed, sim=args.sim, n=args.n)
                counts[r["outcome"]] += 1
            if bar is not None:
                bar.update(len(result))
                bar.set_postfix_str(" ".join(f"{o} {counts[o]}" for o in OUTCOMES), refresh=False)
    except UnitFailed as e:                       # a unit that keeps failing is reported, never ignored
        failed = str(e)
    finally:
        if bar is not None:
            bar.close()
        executor.close()
    seconds = time.time() - started
    ordered = [records[i] for i in wanted if i in records]
    out = Path(args.out or (simbuild.BUILD / ("campaign.jsonl" if not args.shard else
                                             f"campaign-{args.shard[0]}-of-{args.shard[1]}.jsonl")))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(line(r) + "\n" for r in ordered))
    rate = len(ordered) / seconds if seconds else 0.0
    print(f"{len(ordered)} injections in {seconds:.1f} s ({rate:.2f}/s): "
          + ", ".join(f"{o} {counts[o]}" for o in OUTCOMES))
    print(f"wrote {out}")
    if failed or len(ordered) != len(wanted):
        print(f"campaign incomplete: {len(wanted) - len(ordered)} injections missing" + (f"; {failed}" if failed else ""))
        return 1
    if not args.shard and not args.only:
        report(ordered, args.sim, args.seed, args.classes, args.summary, seconds=round(seconds, 1), jobs=executor.describe())
    return 0 if counts["sdc"] == 0 and counts["hang"] == 0 else 2


def report(records, sim, seed, classes, summary_path, **extra):
    """campaign.json, its chart and JUnit XML from a complete campaign's records."""
    summary = summarise(records, sim, seed, classes)
    summary.update(extra)
    path = Path(summary_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=1) + "\n")
    png, xml = path.with_suffix(".png"), path.with_suffix(".junit.xml")
    drawn = chart(summary, png)
    junit(summary, xml)
    keys = ("simulator", "seed", "injections", "outcomes", "used_as_intact", "bounds")
    print(json.dumps({k: summary[k] for k in keys}))
    cov = summary["coverage"]
    print(f"coverage: {cov['hit']}/{cov['bins']} bins of class x memory x moment hit; "
          f"{len(cov['unhit'])} never hit")
    print(f"wrote {path}, {xml}" + (f" and {png}" if drawn else ""))
    return summary


# --- merging ---------------------------------------------------------------------------------
class MergeError(ValueError):
    pass


def merge_records(paths):
    """The records of shard files as one campaign: same seed, simulator and n in every
    line, each injection once (a repeated injection must be the identical line), and
    every injection 0..n-1 present. Returns (records in order, seed, sim, n)."""
    by_index = {}
    runs = set()
    for path in paths:
        with open(path) as f:
            for number, text in enumerate(f, 1):
                if not text.strip():
                    continue
                r = json.loads(text)
                runs.add((r.get("seed"), r.get("sim"), r.get("n")))
                if len(runs) > 1:
                    raise MergeError(f"{path}:{number}: another campaign (seed, sim, n) {sorted(runs, key=str)}")
                old = by_index.get(r["i"])
                if old is not None and line(old) != line(r):
                    raise MergeError(f"{path}:{number}: injection {r['i']} differs from an earlier copy")
                by_index[r["i"]] = r
    if not runs:
        raise MergeError("no records")
    (seed, sim, n), = runs
    missing = sorted(set(range(n)) - set(by_index))
    if missing:
        raise MergeError(f"{len(missing)} of {n} injections missing (first: {missing[:10]})")
    return [by_index[i] for i in range(n)], seed, sim, n


def merge_main(argv):
    parser = argparse.ArgumentParser(prog="chimney campaign merge",
                                     description="merge shard files into campaign.json, its chart and JUnit XML")
    parser.add_argument("files", nargs="+", help="the shards' JSON Lines files")
    parser.add_argument("--summary", default=str(simbuild.BUILD / "campaign.json"))
    parser.add_argument("--jsonl", help="also write the merged records here")
    args = parser.parse_args(argv)
    try:
        records, seed, sim, n = merge_records(args.files)
    except MergeError as e:
        print(f"merge: {e}", file=sys.stderr)
        return 1
    if args.jsonl:
        Path(args.jsonl).write_text("".join(line(r) + "\n" for r in records))
    classes = tuple(dict.fromkeys(r["class"] for r in records))
    summary = report(records, sim, seed, classes, args.summary, shards=len(args.files))
    return 0 if summary["outcomes"]["sdc"] == 0 and summary["outcomes"]["hang"] == 0 else 2


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["merge"]:
        return merge_main(argv[1:])
    parser = argparse.ArgumentParser(prog="chimney campaign", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="injections in the whole campaign (default 1000)")
    parser.add_argument("--sim", default="verilator", choices=simbuild.SIMULATORS)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--shard", type=parse_shard, help="K/N: run only shard K of N (a contiguous block)")
    parser.add_argument("--out", help="JSON Lines records (default build/campaign.jsonl, or "
                                      "build/campaign-K-of-N.jsonl for a shard)")
    parser.add_argument("--summary", default=str(simbuild.BUILD / "campaign.json"),
                        help="campaign.json of an unsharded run (chart and JUnit XML beside it)")
    parser.add_argument("--unit", type=int, default=UNIT, help=f"injections per work unit (default {UNIT})")
    parser.add_argument("--retries", type=int, default=2, help="runs of a failed unit beyond the first (default 2)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="local simulator processes")
    dask = parser.add_mutually_exclusive_group()
    dask.add_argument("--scheduler", help="Dask scheduler address (tcp://HOST:8786): run the units there")
    dask.add_argument("--dask-local", type=int, metavar="WORKERS", help="run the units on a Dask LocalCluster")
    parser.add_argument("--only", type=int, nargs="*", help="re-run these injection numbers (one unit)")
    parser.add_argument("--classes", nargs="*", default=list(FAULT_CLASSES),
                        help="fault classes, used round-robin (injection i gets class i mod count), "
                             f"space- or comma-separated, 'all' for every one; default {','.join(FAULT_CLASSES)} "
                             f"(the numbering of the first campaigns); also {','.join(c for c in ALL_CLASSES if c not in FAULT_CLASSES)}")
    parser.add_argument("--points", choices=("all", "legacy"), default="all",
                        help="injection points: all (idle, in the offload, posts, query, terminate, a scrub pass) "
                             "or legacy (the first campaigns' three, so old (seed, i) reproduce)")
    args = parser.parse_args(argv)
    args.classes = parse_classes(args.classes, parser.error)
    args.points = POINTS if args.points == "all" else LEGACY_POINTS
    if args.n < 1 or args.unit < 1:
        parser.error("--n and --unit must be at least 1")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
