"""cocotb: the performance bench of chimney.tb.bench (run by `make bench`, not by `make test`).

Two tests, selected by the runner's testcase filter; each writes its JSON result to
$CHIMNEY_BENCH_OUT:

* `terminate_batches`: for each batch size in $CHIMNEY_BENCH_BATCHES, offload that many
  TCP connections under one path (not timed), then time one TERMINATE of all of them
  from the CMDQ_PROD doorbell to the completion entry, with a bus monitor counting the
  bytes and beats on every AXI channel and a histogram of the command FSM's states
  (the list flow's, `list.<state>`, while the router waits for it).
* `sim_speed`: the shared small scenario (chimney.tb.bench.speed_scenario); wall time
  and simulated cycles of the whole test body.
"""

import json
import os
import time

import cocotb
from cocotb.triggers import RisingEdge
from cocotb.utils import get_sim_time

from chimney.sw.regs import Registers
from chimney.tb import bench
from chimney.tb.backend import CLOCK_NS, CocotbDevice, CocotbHostMemory, start
from chimney.tb.env import name_map, params_from_env
from scenarios.raw import RawRings


def _sig(dut, dotted):
    obj = dut
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


class BusMonitor:
    """Samples the AXI channels and the engine state every clock while `armed`.

    Values are read at the rising edge, before the flops update: a handshake is
    valid & ready seen there, the cocotbext-axi idiom."""

    def __init__(self, dut, regs):
        self.dut = dut
        self.cycle = 0
        self.armed = False
        self.doorbell = regs.offset("CMDQ_PROD")
        names = name_map()
        state = names["signals"]["engine.state"]
        self.state_sig = _sig(dut, state["path"])
        self.state_names = {v: k for k, v in state["encoding"].items()}
        # while the router waits for the list flow, the list flow's state is the one counted
        lst = names["signals"]["list.state"]
        self.list_sig = _sig(dut, lst["path"])
        self.list_names = {v: k for k, v in lst["encoding"].items()}
        d = dut
        self.csr = [d.csr__awvalid, d.csr__awready, d.csr__awaddr, d.csr__wvalid, d.csr__wready]
        self.aw = [d.dma__awvalid, d.dma__awready, d.dma__awaddr, d.dma__awlen]
        self.w = [d.dma__wvalid, d.dma__wready, d.dma__wstrb, d.dma__wlast]
        self.ar = [d.dma__arvalid, d.dma__arready, d.dma__arlen]
        self.r = [d.dma__rvalid, d.dma__rready]
        self.b = [d.dma__bvalid, d.dma__bready]
        self.reset_window(None)

    def reset_window(self, cpl_addr):
        self.cpl_addr = cpl_addr
        self.t_aw_db = self.t_w_db = None
        self.t_cpl_w = self.t_cpl_b = None
        self.aw_queue = []          # addresses of accepted write bursts, W beats follow in order
        self.b_queue = []           # addresses whose last W beat went, B responses follow in order
        self.stats = dict(w_beats=0, w_bytes=0, aw_bursts=0, r_beats=0, ar_bursts=0, b_resps=0,
                          w_stall_cycles=0)
        self.states = {}

    @staticmethod
    def _hs(valid, ready):
        return int(valid.value) and int(ready.value)

    async def run(self):
        dut = self.dut
        while True:
            await RisingEdge(dut.clk)
            self.cycle += 1
            if not self.armed:
                continue
            st = self.stats
            awv, awr, awaddr, wv, wr = self.csr
            if self.t_aw_db is None and self._hs(awv, awr) and int(awaddr.value) == self.doorbell:
                self.t_aw_db = self.cycle
            if self.t_w_db is None and self._hs(wv, wr):     # nothing else writes CSRs in the window
                self.t_w_db = self.cycle
            if self.t_w_db is None or self.t_aw_db is None:
                continue
            if self.t_cpl_w is None:              # the window ends with the completion entry
                state = self.state_names.get(int(self.state_sig.value), "?")
                if state == "LIST_WAIT":
                    state = "list." + self.list_names.get(int(self.list_sig.value), "?")
                self.states[state] = self.states.get(state, 0) + 1
            v, r, addr, length = self.aw
            if self._hs(v, r):
                self.aw_queue.append(int(addr.value))
                st["aw_bursts"] += 1
            v, r, strb, last = self.w
            if int(v.value):
                if int(r.value):
                    st["w_beats"] += 1
                    st["w_bytes"] += bin(int(strb.value)).count("1")
                    if int(last.value):
                        a = self.aw_queue.pop(0)
                        self.b_queue.append(a)
                        if a == self.cpl_addr and self.t_cpl_w is None:
                            self.t_cpl_w = self.cycle
                else:
                    st["w_stall_cycles"] += 1
            v, r, length = self.ar
            if self._hs(v, r):
                st["ar_bursts"] += 1
            v, r = self.r
            if self._hs(v, r):
                st["r_beats"] += 1
            v, r = self.b
            if self._hs(v, r):
                st["b_resps"] += 1
                a = self.b_queue.pop(0) if self.b_queue else None
                if a == self.cpl_addr and self.t_cpl_b is None:
                    self.t_cpl_b = self.cycle

    def result(self):
        db = max(self.t_aw_db, self.t_w_db)
        return {
            "cycles": self.t_cpl_w - db,
            "cycles_to_bresp": self.t_cpl_b - db if self.t_cpl_b else None,
            **self.stats,
            "state_cycles": dict(sorted(self.states.items(), key=lambda kv: -kv[1])),
        }


async def _bring_up(dut, log2):
    params = params_from_env()
    await start(dut)
    memory = CocotbHostMemory(dut)
    regs = Registers(CocotbDevice(dut), params)
    rings = RawRings(regs, memory, log2=log2, timeout_ns=50_000_000)
    await rings.start()     # polls READY with pauses, as the driver does
    return params, regs, memory, rings


@cocotb.test()
async def terminate_batches(dut):
    batches = [int(b) for b in os.environ.get("CHIMNEY_BENCH_BATCHES", "1,16").split(",")]
    params, regs, memory, rings = await _bring_up(dut, log2=11)
    mon = BusMonitor(dut, regs)
    cocotb.start_soon(mon.run())
    rows = []
    nh, ph = await bench.offload_parents(rings)
    for n in batches:
        t_wall = time.perf_counter()
        tcps = await bench.offload_tcp_many(rings, ph, n, seed=n)
        setup_s = time.perf_counter() - t_wall
        lst, bufs = bench.terminate_list(rings, ph, tcps)
        mon.reset_window(rings.cplq.addr + 16 * (rings.cpl_cons % rings.size))
        mon.armed = True
        cpl = await bench.run_terminate(rings, lst, len(tcps))
        # the completion was seen; let the bus settle so B responses are counted too
        for _ in range(4):
            await RisingEdge(dut.clk)
        mon.armed = False
        bench.check_terminated(rings, cpl, tcps, bufs)
        row = {"objects": n, **mon.result(), "setup_wall_s": round(setup_s, 2)}
        rows.append(row)
        dut._log.info("terminate %d: %d cycles (%.2f per object)", n, row["cycles"], row["cycles"] / n)
        for buf in bufs:
            for region in ("state", "status", "req"):
                memory.free(buf[region])
        memory.free(lst)
    with open(os.environ["CHIMNEY_BENCH_OUT"], "w") as f:
        json.dump({"rows": rows, "params": params.as_dict()}, f, indent=1)


@cocotb.test()
async def sim_speed(dut):
    t0 = time.perf_counter()
    c0 = get_sim_time("ns")
    params, regs, memory, rings = await _bring_up(dut, log2=4)
    await bench.speed_scenario(rings)
    wall = time.perf_counter() - t0
    cycles = int((get_sim_time("ns") - c0) // CLOCK_NS)
    with open(os.environ["CHIMNEY_BENCH_OUT"], "w") as f:
        json.dump({"cycles": cycles, "wall_s": wall}, f, indent=1)
