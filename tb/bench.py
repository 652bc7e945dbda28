"""`make bench`: TERMINATE throughput and latency, and simulator speed; writes build/bench.json.

    python -m chimney.tb.bench [--out build/bench.json] [--batches 1,16,256,1024]
                               [--speed-sims icarus,verilator,amaranth] [--batch-sim verilator]

What is measured (docs/performance.md explains every number):

* terminate rows: for N in the batch sizes, N TCP connections are offloaded under one
  path (not timed), then one TERMINATE lists all N. `cycles` runs from the CMDQ_PROD
  doorbell (the cycle both halves of the AXI4-Lite write are accepted) to the cycle the
  completion entry's data beat is accepted on the DMA write channel. A bus monitor
  counts every handshake meanwhile, and the command FSM's state (the name map's
  `engine.state` probe) is histogrammed.
* the bus bound counts the bytes the write channel must carry, divided by the bus
  width in bytes (8): per TCP object its delegated bytes (WRITE_BACK[TCP], 116), its
  32-bit Status word (4) and its request header (8, no records: nothing is posted),
  and per command the 16-byte completion entry. Reads (the 32-byte command descriptor
  and one 32-byte list entry per object) use the independent AXI read channel and
  are reported separately (`read_bound_cycles_per_object`); they do not enter the bound.
  `efficiency` = bound / measured cycles.
* latency_cycles: the N = 1 row (one TCP terminate, doorbell to completion entry).
* sim_speed: one small scenario (`speed_scenario`: bring-up, a neighbor, a path and 16
  TCP connections offloaded one command at a time, one TERMINATE of all 18) on each
  simulator, at the default parameters; simulated cycles / wall seconds of the test body.
  The cocotb numbers include the Python bus models (AXI4-Lite master, AXI RAM), which
  bound both HDL simulators; elaboration and simulator builds are not counted.
"""

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

from chimney.contract import (EngineParams, ObjType, Opcode, NdisStatus, TCP_DATA, WRITE_BACK, COMPLETION,
                              LIST_ENTRY, COMMAND, REQ_HEADER, split_handle)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BATCHES = (1, 16, 256, 1024)
SPEED_SIMS = ("icarus", "verilator", "amaranth")
SPEED_TCP = 16
CLOCK_NS = 10

# --- the bus bound -------------------------------------------------------------------
STATUS_BYTES = 4
REQ_HEADER_BYTES = REQ_HEADER.width // 8
COMPLETION_BYTES = COMPLETION.width // 8
LIST_ENTRY_BYTES = LIST_ENTRY.width // 8
COMMAND_BYTES = COMMAND.width // 8


def write_bytes_per_tcp():
    """Bytes a TCP TERMINATE entry puts on the write channel (no requests posted)."""
    return WRITE_BACK[ObjType.TCP].nbytes + STATUS_BYTES + REQ_HEADER_BYTES


def bus_bound_cycles(n, bus_bytes=8):
    """Write-channel cycles a TERMINATE of n TCP connections needs at best."""
    return (n * write_bytes_per_tcp() + COMPLETION_BYTES) / bus_bytes


def read_bound_cycles(n, bus_bytes=8):
    return (n * LIST_ENTRY_BYTES + COMMAND_BYTES) / bus_bytes


# --- scenario steps shared by the cocotb bench and the Amaranth-sim speed run -------------
def tcp_fields(rng):
    f = {name: rng.getrandbits(field.width) for name, _, field in TCP_DATA if not name.startswith("rsvd")}
    f["State"] = rng.randrange(11)
    return f


def _index(handle):
    return split_handle(handle)[1]


async def offload_parents(rings):
    """A neighbor and a path; returns their handles."""
    nb = await rings.offload(ObjType.NEIGHBOR, {"NicReachabilityDelta": 1, "VlanId": 5}, host_handle=0x100)
    assert nb["status"] == NdisStatus.SUCCESS, nb
    pa = await rings.offload(ObjType.PATH, {"PathMtu": 1500}, parent=nb["result"], host_handle=0x200)
    assert pa["status"] == NdisStatus.SUCCESS, pa
    return nb["result"], pa["result"]


async def offload_tcp_many(rings, path_handle, n, *, seed=0):
    """Offload n TCP connections, up to a ring's worth of commands per doorbell.
    Returns [(handle, fields)]."""
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        chunk = min(n - len(out), rings.size)
        blocks, fields = [], []
        for _ in range(chunk):
            f = tcp_fields(rng)
            block = rings.mem.alloc(TCP_DATA.width // 8, 64)
            rings.mem.write(block.addr, TCP_DATA.to_bytes(f))
            rings.tag = (rings.tag + 1) & 0xFFFF
            slot = rings.cmd_prod % rings.size
            rings.mem.write(rings.cmdq.addr + 32 * slot,
                            COMMAND.to_bytes(opcode=int(Opcode.OFFLOAD), obj_type=int(ObjType.TCP), tag=rings.tag,
                                             handle=path_handle, addr=block.addr, cookie=0x1000 + len(out) + len(fields)))
            rings.cmd_prod = (rings.cmd_prod + 1) & 0xFFFF
            blocks.append(block)
            fields.append(f)
        await rings.regs.write_fields("CMDQ_PROD", INDEX=rings.cmd_prod)
        for f, block in zip(fields, blocks):
            cpl = await rings.completion()
            assert cpl["status"] == NdisStatus.SUCCESS and cpl["opcode"] == Opcode.OFFLOAD, cpl
            out.append((cpl["result"], f))
            rings.mem.free(block)
    return out


def terminate_list(rings, path_handle, tcps):
    return rings.list_for([(h, _index(path_handle), ObjType.TCP) for h, _ in tcps])


async def run_terminate(rings, lst, n):
    return await rings.run(Opcode.TERMINATE, addr=lst.addr, count=n)


def check_terminated(rings, cpl, tcps, bufs):
    assert (cpl["status"], cpl["result"]) == (NdisStatus.SUCCESS, 0), cpl
    wb = WRITE_BACK[ObjType.TCP]
    for (_, fields), buf in zip(tcps, bufs):
        assert rings.read_status(buf) == NdisStatus.SUCCESS
        assert rings.read_delegated(buf) == wb.image(fields)
        assert rings.read_requests(buf)[0]["count"] == 0


async def speed_scenario(rings, n_tcp=SPEED_TCP):
    """The simulator-speed scenario: a tree of 1 neighbor, 1 path, n_tcp connections
    offloaded one command at a time, then one TERMINATE of the whole tree."""
    nh, ph = await offload_parents(rings)
    rng = random.Random(1)
    tcps = []
    for i in range(n_tcp):
        f = tcp_fields(rng)
        cpl = await rings.offload(ObjType.TCP, f, parent=ph, host_handle=0x300 + i)
        assert cpl["status"] == NdisStatus.SUCCESS, cpl
        tcps.append((cpl["result"], f))
    lst, bufs = rings.list_for([(h, _index(ph), ObjType.TCP) for h, _ in tcps]
                               + [(ph, _index(nh), ObjType.PATH), (nh, 0, ObjType.NEIGHBOR)])
    cpl = await rings.run(Opcode.TERMINATE, addr=lst.addr, count=len(tcps) + 2)
    assert (cpl["status"], cpl["result"]) == (NdisStatus.SUCCESS, 0), cpl
    check_terminated(rings, cpl, tcps, bufs[:n_tcp])


# --- runners ----------------------------------------------------------------------------
def _scenarios_path():
    for path in (str(ROOT / "tests"), str(ROOT / "tests" / "cocotb")):
        if path not in sys.path:
            sys.path.insert(0, path)


def amaranth_speed(params=EngineParams(), n_tcp=SPEED_TCP):
    """speed_scenario on Amaranth's simulator; returns {cycles, wall_s}."""
    from amaranth.sim import Simulator
    from chimney.rtl.top import ChimneyEngine
    from chimney.sw.regs import Registers
    from chimney.tb.amaranth_axi import AxiMemoryModel
    from chimney.tb.amaranth_backend import AmaranthSimDevice, SimHostMemory
    _scenarios_path()
    from scenarios.raw import RawRings
    dut = ChimneyEngine(params)
    memory = SimHostMemory()
    axi = AxiMemoryModel(dut.dma, memory.mem, max_burst=params.max_burst, fatal=dut.dma_master.fatal)
    sim = Simulator(dut)
    sim.add_clock(CLOCK_NS * 1e-9)
    axi.add_to(sim)
    count = [0]
    result = {}

    async def counter(ctx):
        async for _ in ctx.tick():
            count[0] += 1

    async def body(ctx):
        t0, c0 = time.perf_counter(), count[0]
        try:
            rings = RawRings(Registers(AmaranthSimDevice(ctx, dut, timeout_cycles=20000), params), memory)
            await rings.start()
            await speed_scenario(rings, n_tcp)
            result.update(cycles=count[0] - c0, wall_s=time.perf_counter() - t0)
        except BaseException as e:          # carry the failure out of the simulator
            result["error"] = e

    sim.add_process(counter)
    sim.add_testbench(body)
    sim.run()
    if "error" in result:
        raise result["error"]
    if axi.violations:
        raise AssertionError(f"AXI violations: {axi.violations[:5]}")
    return result


def cocotb_run(sim, testcase, params, out, extra_env=None):
    """Run one test of tests/cocotb/cocotb_bench.py; return its JSON result."""
    from chimney.tb import simbuild
    _scenarios_path()
    out = Path(out).resolve()               # the simulator runs in its own folder
    if out.exists():
        out.unlink()
    simbuild.run(sim, "cocotb_bench", testcase, params=params, waves=False,
                 extra_env={"CHIMNEY_BENCH_OUT": str(out), **(extra_env or {})})
    return json.loads(out.read_text())


def terminate_row(raw, bus_bytes=8):
    """The bench.json row for one measured TERMINATE (raw: the cocotb monitor's result)."""
    n = raw["objects"]
    bound = bus_bound_cycles(n, bus_bytes)
    # command-FSM cycles per object by state, the largest first (states under 0.01 left out)
    top = [(k, v) for k, v in sorted(raw.get("state_cycles", {}).items(), key=lambda kv: -kv[1]) if v / n >= 0.01]
    return {
        "objects": n,
        "cycles": raw["cycles"],
        "cycles_per_object": round(raw["cycles"] / n, 3),
        "bus_bound_cycles": bound,
        "bus_bound_cycles_per_object": round(bound / n, 4),
        "efficiency": round(bound / raw["cycles"], 4),
        "write_bytes": raw["w_bytes"],
        "write_beats": raw["w_beats"],
        "write_bursts": raw["aw_bursts"],
        "read_beats": raw["r_beats"],
        "read_bound_cycles_per_object": round(read_bound_cycles(n, bus_bytes) / n, 4),
        "cycles_to_bresp": raw.get("cycles_to_bresp"),
        "state_cycles_per_object": {k: round(v / n, 2) for k, v in top},
    }


def assemble(params, terminate_raw, speed_raw, *, batch_sim):
    """bench.json from the raw measurements (kept separate so its schema is testable)."""
    rows = [terminate_row(r, params.data_width // 8) for r in terminate_raw]
    by_n = {r["objects"]: r for r in rows}
    speed = {sim: {"cycles": r["cycles"], "wall_s": round(r["wall_s"], 3),
                   "cycles_per_s": round(r["cycles"] / r["wall_s"], 1)} for sim, r in speed_raw.items()}
    big = [r["efficiency"] for r in rows if r["objects"] >= 256]
    return {
        "params": params.as_dict(),
        "batch_simulator": batch_sim,
        "clock_ns": CLOCK_NS,
        "bus": {
            "data_bytes_per_cycle": params.data_width // 8,
            "write_bytes_per_tcp_object": write_bytes_per_tcp(),
            "write_bytes_per_tcp_object_parts": {"delegated": WRITE_BACK[ObjType.TCP].nbytes,
                                                 "status": STATUS_BYTES, "request_header": REQ_HEADER_BYTES},
            "write_bytes_per_command": COMPLETION_BYTES,
            "read_bytes_per_tcp_object": LIST_ENTRY_BYTES,
            "read_bytes_per_command": COMMAND_BYTES,
        },
        "terminate": rows,
        "latency_cycles": by_n[1]["cycles"] if 1 in by_n else None,
        "sim_speed": {"scenario": f"bring-up, 1 neighbor + 1 path + {SPEED_TCP} TCP offloaded one by one, "
                                  f"one TERMINATE of all {SPEED_TCP + 2}", **speed},
        "targets": {"efficiency_min_for_batches_ge_256": 0.9,
                    "efficiency_met": bool(big) and min(big) >= 0.9},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "build" / "bench.json"))
    parser.add_argument("--batches", default=",".join(map(str, DEFAULT_BATCHES)))
    parser.add_argument("--batch-sim", default="verilator", choices=("verilator", "icarus"))
    parser.add_argument("--speed-sims", default=",".join(SPEED_SIMS),
                        help="simulators for sim_speed (empty: skip)")
    parser.add_argument("--n-tcp", type=int, default=None, help="TCP table rows (default: the largest batch, >= 1024)")
    args = parser.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",") if b]
    params = EngineParams()
    if args.n_tcp or max(batches) > params.n_tcp:
        params = params.replace(n_tcp=args.n_tcp or max(batches))
    out = Path(args.out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.parent / "bench"
    work.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    print(f"bench: TERMINATE batches {batches} on {args.batch_sim} (builds the simulator on first use)", flush=True)
    raw = cocotb_run(args.batch_sim, "terminate_batches", params, work / "terminate.json",
                     {"CHIMNEY_BENCH_BATCHES": ",".join(map(str, batches))})
    speed = {}
    for sim in [s for s in args.speed_sims.split(",") if s]:
        print(f"bench: sim_speed on {sim}", flush=True)
        if sim in ("amaranth", "amaranth-sim"):
            speed["amaranth-sim"] = amaranth_speed(EngineParams())
        else:
            speed[sim] = cocotb_run(sim, "sim_speed", EngineParams(), work / f"speed-{sim}.json")
    report = assemble(params, raw["rows"], speed, batch_sim=args.batch_sim)
    report["wall_s"] = round(time.perf_counter() - t0, 1)
    out.write_text(json.dumps(report, indent=1) + "\n")
    for r in report["terminate"]:
        print(f"  terminate {r['objects']:5d}: {r['cycles']:7d} cycles, {r['cycles_per_object']:8.2f}/object, "
              f"bound {r['bus_bound_cycles_per_object']:.2f}, efficiency {r['efficiency']:.3f}")
    print(f"  latency (1 TCP, doorbell -> completion entry): {report['latency_cycles']} cycles")
    for sim, s in report["sim_speed"].items():
        if isinstance(s, dict):
            print(f"  {sim:13s} {s['cycles_per_s']:10.0f} cycles/s")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
