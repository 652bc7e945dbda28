"""cocotb: a shard of a fault-injection campaign (driven by chimney.tb.campaign).

CHIMNEY_CAMPAIGN = {"seed", "start", "count", "out", "only", "classes", "points"}: injections
start..start+count-1 (or those in `only`) of the campaign `seed`, one JSON line each in
`out`. Injection i depends only on (seed, i) and the class list, so a campaign gives the
same result however it is sharded.

Each injection is judged at the NDIS edge and in the engine's own view
(chimney.tb.classify.engine_view): what both engines wrote (completions, events,
request records) is logged by `EngineLog`, and every meta word and pool entry is read
back after the run (RTL through the back door, the model with `peek`).
"""

import json
import os
import random

import cocotb
from cocotb.simtime import get_sim_time
from cocotb.triggers import ClockCycles, Event, First

from chimney.contract import ErrorCode, MEMORIES, ObjType, memory_depth, meta_layout, pool_layout
from chimney.sw.bus import DeviceTimeout
from chimney.sw.model import RefEngine, SimpleHostMemory
from chimney.sw.regs import Registers
from chimney.tb.backend import CLOCK_NS, CocotbDevice, CocotbHostMemory, start, reset
from chimney.tb.classify import classify, engine_view
from chimney.tb.cosim import CoSim
from chimney.tb.env import params_from_env, name_map
from chimney.tb.faults import (RtlFaults, FAULT_CLASSES, META_CLASSES, POINTS, MOMENT, decode_stored,
                               fault_fields)
from scenarios.campaign import scenario, live_words, choose_fault, meta_targets

#: the memories whose words the engine rewrites while objects live: compared after the run
STATE_MEMORIES = tuple(n for n, _, k in MEMORIES if k in ("meta", "pool"))
#: ERR_STATUS bits by which the engine says it lost something or stopped
LOSS_BITS = sum(1 << int(e) for e in (ErrorCode.ECC_UNCORRECTABLE, ErrorCode.INTERNAL,
                                      ErrorCode.DMA_WRITE, ErrorCode.DMA_READ))


class EngineLog:
    """What one engine wrote, as its driver took it: completion entries, events and each
    TERMINATE's request header and records (seq and phase left out). Wraps the driver's
    own handlers; the driver behaves exactly as before."""

    def __init__(self, driver):
        self.entries = []
        on_cpl, on_evt, read_req = driver._on_completion, driver._on_event, driver._read_requests

        def completion(f):
            self.entries.append(("cpl", *(f.get(k) for k in ("opcode", "tag", "status", "result",
                                                             "err_index", "detail"))))
            return on_cpl(f)

        def event(f):
            self.entries.append(("evt", *(f.get(k) for k in ("type", "info", "handle", "host_handle"))))
            return on_evt(f)

        def requests(item):
            hdr, recs = read_req(item)
            self.entries.append(("req", item.block.name, hdr["count"], hdr["list_lost"],
                                 tuple(tuple(sorted(r.items())) for r in recs)))
            return hdr, recs

        driver._on_completion, driver._on_event, driver._read_requests = completion, event, requests


def _describe(params):
    lays = {"tcp_meta": meta_layout(params, ObjType.TCP), "path_meta": meta_layout(params, ObjType.PATH),
            "neighbor_meta": meta_layout(params, ObjType.NEIGHBOR), "req_pool": pool_layout(params)}

    def describe(mem, addr, a, b):
        def fields(word):
            if word is None:
                return None
            status, data, _ = decode_stored(word, params, mem)
            if status.name == "UNCORRECTABLE":
                return "uncorrectable"
            lay = lays[mem]
            if mem == "req_pool":
                return lay.unpack(data)
            out = lay.unpack(data, variant={"u": "live" if lay.unpack(data)["valid"] else "free"})
            out.update(out.pop("u")[1])
            return out
        fa, fb = fields(a), fields(b)
        if isinstance(fa, dict) and isinstance(fb, dict):
            return ", ".join(f"{k} {fa.get(k)}/{fb.get(k)}" for k in sorted(set(fa) | set(fb))
                             if fa.get(k) != fb.get(k)) + " (rtl/fault-free)"
        return f"{fa} / fault-free {fb}"
    return describe


#: about how long each `during_*` phase runs on the default build, in cycles (each
#: record's `phase_cycles` says how long its phase took): the landing cycle is drawn
#: below this; a fault whose cycle comes after its phase ended lands at the phase's end
PHASE_CYCLES = {"during_offload": 1200, "during_post": 1200, "during_query": 400, "during_scrub": 38000}


async def one(dut, device, memory, params, names, seed, i, classes=FAULT_CLASSES, points=POINTS):
    rng = random.Random(f"{seed}:{i}")
    kind = classes[i % len(classes)]
    point = rng.choice(points)
    scen_seed = rng.randrange(1 << 30)
    scrub = point == "during_scrub"
    # golden: the same scenario, fault-free, on the reference model
    gold_mem = SimpleHostMemory(1 << 24)
    gold_engine = RefEngine(params, gold_mem)
    gold = CoSim(gold_engine, gold_mem, params, model=False)
    gold_log = EngineLog(gold.rtl.driver)
    await gold.start()
    await scenario(gold, random.Random(scen_seed), scrub=scrub)
    # the RTL, with one fault
    await reset(dut)
    memory.reset()
    rtl = CoSim(device, memory, params, model=False, timeout_ns=5_000_000, irq_timeout_ns=100_000)
    rtl_log = EngineLog(rtl.rtl.driver)
    faults = RtlFaults(dut, names)
    record = {"i": i, "class": kind, "point": point, "moment": MOMENT[point]}

    delayed = []
    injected = []                     # (memory, address, stored word right after the fault)
    phase_over = Event()
    armed_at = []

    def cycle():
        return get_sim_time("ns") // CLOCK_NS

    def choose():
        meta_live = meta_targets(rtl, params, faults.peek) if kind in META_CLASSES else None
        return choose_fault(rng, kind, params, names, live_words(rtl, params), meta_live=meta_live)

    def apply(fault, when=""):
        old = None
        if fault.kind != "fsm":       # a deposit shows only after the delta: compute the new word
            old = faults.peek(fault.target, fault.addr)
            injected.append((fault.target, fault.addr,
                             fault.value if fault.value is not None else old ^ fault.mask))
        faults.apply(fault)
        record.update(fault_fields(fault, old))
        record["fault"] = fault.describe() + when

    async def inject(where, end=False):
        if where != point:
            return
        if end:                       # the phase is over: a fault still waiting lands now
            record["phase_cycles"] = cycle() - armed_at[0]
            phase_over.set()
            for task in delayed:
                await task
            return
        if where == "during_terminate":          # as the first campaigns: chosen when armed
            fault = choose()
            delay = rng.randrange(1, 400)

            async def later():
                await ClockCycles(dut.clk, delay)
                apply(fault, f" after {delay} cycles")
            delayed.append(cocotb.start_soon(later()))
        elif where.startswith("during_"):        # chosen when it lands: the words live then
            armed_at.append(cycle())
            delay = rng.randrange(1, PHASE_CYCLES[where])

            async def later():
                await First(ClockCycles(dut.clk, delay), phase_over.wait())
                apply(choose(), f" at the end of the phase (drawn: {delay} cycles)" if phase_over.is_set()
                      else f" after {delay} cycles")
            delayed.append(cocotb.start_soon(later()))
        else:
            apply(choose())

    hang = False
    try:
        await rtl.start()
        await scenario(rtl, random.Random(scen_seed), inject, scrub=scrub)
    except DeviceTimeout as e:         # DriverTimeout is one
        hang = True
        record["error"] = str(e)[:200]
    except Exception as e:             # the driver gave up (engine halted): noticed, judged below
        record["error"] = f"{type(e).__name__}: {e}"[:200]
    # a delayed injection lands in this case even when the terminate ended first (it is
    # then judged like any fault the host never reads); left pending, it would land
    # after the next case's reset
    for task in delayed:
        if not task.done():
            await task
            record["fault"] += " (after the scenario)"
    regs = Registers(device, params)
    counters = {}
    if not hang:
        for reg in ("ECC_CE_COUNT", "ECC_UE_COUNT", "ERR_STATUS", "STATUS"):
            counters[reg] = await regs.read(reg)
    owners = dict(gold.posted)          # NBL name -> connection (same names on both runs)
    drv = rtl.rtl.driver
    noticed = bool(counters.get("ECC_CE_COUNT") or counters.get("ECC_UE_COUNT") or drv.errors
                   or "error" in record)
    engine = None
    if not hang:
        # the engine's own view: did it say it lost something, and does what it did and
        # holds match the fault-free run?
        reported = bool(counters.get("ECC_UE_COUNT") or counters.get("STATUS", 0) & 0b100 or drv.halted
                        or (counters.get("ERR_STATUS", 0) | drv.rings.err_seen) & LOSS_BITS or "error" in record)
        rtl_words, gold_words = {}, {}
        for mem in STATE_MEMORIES:
            array = faults.array(mem)
            for a in range(memory_depth(params, mem)):
                rtl_words[(mem, a)] = int(array[a].value)
                gold_words[(mem, a)] = gold_engine.peek(mem, a)
        halts = [e for e in drv.errors if str(e).startswith("engine halted")]
        differences = engine_view(rtl_log.entries, gold_log.entries, rtl_words, gold_words,
                                  injected=injected[0] if injected else None,
                                  driver_errors=[str(e) for e in drv.errors if e not in halts],
                                  params=params, describe=_describe(params))
        engine = {"reported": reported, "differences": differences}
        record["engine"] = {"reported": reported, "differences": [d[:200] for d in differences[:4]]}
    outcome, why = classify(rtl.trace, gold.trace, tcp_names=set(gold.tcp_names()),
                            nbl_owner=owners, noticed=noticed, hang=hang, engine=engine)
    record.update(outcome=outcome, evidence=why[:300], counters=counters,
                  driver_errors=len(drv.errors))
    return record


@cocotb.test()
async def campaign(dut):
    cfg = json.loads(os.environ["CHIMNEY_CAMPAIGN"])
    only = cfg.get("only")            # re-run chosen injections (debugging)
    params = params_from_env()
    names = name_map()
    await start(dut)
    device = CocotbDevice(dut)
    memory = CocotbHostMemory(dut)
    with open(cfg["out"], "a") as out:
        for i in (only or range(cfg["start"], cfg["start"] + cfg["count"])):
            record = await one(dut, device, memory, params, names, cfg["seed"], i,
                               tuple(cfg.get("classes") or FAULT_CLASSES), tuple(cfg.get("points") or POINTS))
            out.write(json.dumps(record) + "\n")
            out.flush()
