"""`make campaign N=<n> SIM=<sim> SEED=<s> [JOBS=<j>]`: a fault-injection campaign.

Shards the injections over JOBS simulator processes (each a cocotb run of
tests/cocotb/cocotb_campaign.py), shows a progress bar, and writes
build/campaign.json (simulator, seed, injections, by_class, outcomes, plus every
sdc/hang case in `cases`) and build/campaign.png (outcomes by fault class).
Injection i depends only on (seed, i) (and the class list, `--classes`, used
round-robin): any sharding gives the same result. The default classes are the first
campaigns' five; `--classes meta_multi,meta_word` (or `all`) adds the issue-11 meta
classes. Each record says why it was classified so; an sdc found in the engine's own
view (chimney.tb.classify.engine_view) has `"evidence": "used_as_intact"`, counted in
the summary's `used_as_intact`.
"""

import argparse
import json
import os
import sys
import threading
import time
from collections import Counter, defaultdict

from chimney.tb import simbuild
from chimney.tb.classify import OUTCOMES
from chimney.tb.faults import FAULT_CLASSES, ALL_CLASSES


def _shards(n, jobs):
    size, extra = divmod(n, jobs)
    start = 0
    for j in range(jobs):
        count = size + (j < extra)
        if count:
            yield start, count
        start += count


def _read(paths):
    records = []
    for path in paths:
        if os.path.exists(path):
            with open(path) as f:
                records += [json.loads(line) for line in f if line.strip()]
    return records


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


def _bar(done, total, counts, width=30):
    filled = int(width * done / max(total, 1))
    tally = " ".join(f"{k} {counts.get(k, 0)}" for k in OUTCOMES)
    return f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}  {tally}"


def run_injections(sim, seed, out, *, start=0, count=0, only=None, classes=FAULT_CLASSES, test_dir=None):
    """One shard in one simulator process: injections start..start+count-1 (or `only`)
    of campaign `seed`; returns their records (a list of dicts, in order). The shard's
    JSON lines go to `out` (appended)."""
    env = {"CHIMNEY_CAMPAIGN": json.dumps({"seed": seed, "start": start, "count": count, "out": str(out),
                                            "only": list(only) if only else None, "classes": list(classes)})}
    simbuild.run(sim, "cocotb_campaign", extra_env=env, test_dir=test_dir)
    return sorted(_read([str(out)]), key=lambda r: r["i"])


def summarise(records, sim, seed, classes=FAULT_CLASSES):
    by_class = {}
    for kind in [k for k in ALL_CLASSES if k in classes or any(r["class"] == k for r in records)]:
        mine = [r for r in records if r["class"] == kind]
        c = Counter(r["outcome"] for r in mine)
        by_class[kind] = {"count": len(mine), "outcomes": {o: c.get(o, 0) for o in OUTCOMES}}
    total = Counter(r["outcome"] for r in records)
    return {
        "simulator": sim,
        "seed": seed,
        "injections": len(records),
        "by_class": by_class,
        "outcomes": {o: total.get(o, 0) for o in OUTCOMES},
        "used_as_intact": sum(r.get("evidence") == "used_as_intact" for r in records),
        "cases": [r for r in records if r["outcome"] in ("sdc", "hang")],
    }


def chart(summary, path):
    """A stacked bar chart of outcomes by class; returns False without matplotlib (`make
    campaign` installs it; a bare `python -m chimney.tb.campaign` may not have it)."""
    try:
        import matplotlib
    except ImportError:
        print("no chart: matplotlib is not installed (make campaign installs it)", file=sys.stderr)
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    classes = list(summary["by_class"])
    colours = {"corrected": "#4c9f70", "detected": "#3b75af", "masked": "#b0b0b0", "sdc": "#d62728",
               "hang": "#ff7f0e"}
    fig, ax = plt.subplots(figsize=(8, 4))
    bottom = [0] * len(classes)
    for outcome in OUTCOMES:
        values = [summary["by_class"][c]["outcomes"][outcome] for c in classes]
        ax.bar(classes, values, bottom=bottom, label=outcome, color=colours[outcome])
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_ylabel("injections")
    ax.set_title(f"chimney fault campaign: {summary['injections']} injections on {summary['simulator']} "
                 f"(seed {summary['seed']})", fontsize=10)
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="injections (default 1000)")
    parser.add_argument("--sim", default="verilator", choices=simbuild.SIMULATORS)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="simulator processes")
    parser.add_argument("--out", default=str(simbuild.BUILD / "campaign.json"))
    parser.add_argument("--only", type=int, nargs="*", help="re-run these injection numbers (one shard)")
    parser.add_argument("--classes", nargs="*", default=list(FAULT_CLASSES),
                        help="fault classes, used round-robin (injection i gets class i mod count), "
                             f"space- or comma-separated, 'all' for every one; default {','.join(FAULT_CLASSES)} "
                             f"(the numbering of the first campaigns); also {','.join(c for c in ALL_CLASSES if c not in FAULT_CLASSES)}")
    args = parser.parse_args(argv)
    args.classes = parse_classes(args.classes, parser.error)

    print(f"fault campaign: {args.n} injections on {args.sim}, seed {args.seed}, {args.jobs} shards")
    simbuild.build(args.sim)                      # once, before the shards start
    run_dir = simbuild.BUILD / "campaign" / f"{args.sim}-{args.seed}-{os.getpid()}"
    run_dir.mkdir(parents=True, exist_ok=True)
    shards = list(_shards(args.n, max(1, args.jobs))) if not args.only else [(0, len(args.only))]
    if args.only:
        args.n = len(args.only)
    outs = [str(run_dir / f"shard{k}.jsonl") for k in range(len(shards))]
    failures = []

    def shard(k, start, count):
        try:
            run_injections(args.sim, args.seed, outs[k], start=start, count=count, only=args.only,
                           classes=args.classes, test_dir=run_dir / f"shard{k}")
        except Exception as e:                    # a shard that dies is reported, never ignored
            failures.append(f"shard {k}: {e}")

    threads = [threading.Thread(target=shard, args=(k, s, c), daemon=True) for k, (s, c) in enumerate(shards)]
    started = time.time()
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        records = _read(outs)
        sys.stdout.write(_bar(len(records), args.n, Counter(r["outcome"] for r in records)))
        sys.stdout.flush()
        time.sleep(1.0)
    records = sorted(_read(outs), key=lambda r: r["i"])
    sys.stdout.write(_bar(len(records), args.n, Counter(r["outcome"] for r in records)) + "\n")
    summary = summarise(records, args.sim, args.seed, args.classes)
    summary["seconds"] = round(time.time() - started, 1)
    with open(args.out, "w") as f:
        json.dump(summary, f, indent=1)
    png = os.path.splitext(args.out)[0] + ".png"
    drawn = chart(summary, png)
    print(json.dumps({k: summary[k] for k in ("simulator", "seed", "injections", "outcomes", "used_as_intact")}))
    print(f"wrote {args.out}" + (f" and {png}" if drawn else ""))
    if failures or len(records) != args.n:
        print("campaign incomplete:", *failures, sep="\n  ")
        return 1
    return 0 if summary["outcomes"]["sdc"] == 0 and summary["outcomes"]["hang"] == 0 else 2


if __name__ == "__main__":
    sys.exit(main())
