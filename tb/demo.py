"""`make demo`: run the co-simulation demo on an HDL simulator and say what it showed."""

import argparse
import json
import os
import sys

from chimney.tb import simbuild


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sim", default="verilator", choices=simbuild.SIMULATORS)
    parser.add_argument("-v", "--verbose", action="store_true", default=os.environ.get("VERBOSE", "0") not in ("", "0"),
                        help="show the simulator's own output on the terminal (also VERBOSE=1)")
    args = parser.parse_args(argv)
    out = simbuild.BUILD / "demo.json"
    if out.exists():
        out.unlink()
    test_dir = simbuild.BUILD / f"demo-{args.sim}"
    test_dir.mkdir(parents=True, exist_ok=True)
    log_dir = None if args.verbose else test_dir
    print(f"chimney demo on {args.sim}: generating Verilog and building the simulator (cached after the first run)")
    if log_dir:
        where = os.path.relpath(log_dir)
        print(f"  the simulator's own output goes to {where}/{args.sim}-sim.log ({args.sim}-build.log when it "
              f"builds); -v or VERBOSE=1 shows it here")
    try:
        simbuild.run(args.sim, "cocotb_demo", extra_env={"CHIMNEY_DEMO_OUT": str(out)}, test_dir=test_dir,
                     log_dir=log_dir)
    except simbuild.CocotbFailure as e:
        print(f"demo FAILED: {e}")
        if log_dir:
            print(f"  the simulator's output: {log_dir / (args.sim + '-sim.log')}")
        return 1
    report = json.loads(out.read_text())
    print()
    print("What the host stack saw (RTL side; the reference model saw the same, callback for callback):")
    for line in report.pop("log"):
        print("  " + line)
    print()
    print(f"build/demo.json: {json.dumps(report)}")
    print()
    ok = report["failure_sequence_ok"] and report["delegated_mismatches"] == 0 and report["scoreboard_mismatches"] == 0
    print(f"The {report['simulator']} RTL offloaded {report['offloaded']} objects, terminated them, and after a "
          f"double-bit error in one connection's state RAM ran the hardware-failure sequence "
          f"{'exactly as NDIS requires' if report['failure_sequence_ok'] else 'INCORRECTLY'}; "
          f"{report['delegated_mismatches']} delegated-state mismatches, "
          f"{report['scoreboard_mismatches']} differences from the reference model.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
