"""cocotb: a shard of a fault-injection campaign (driven by chimney.tb.campaign).

CHIMNEY_CAMPAIGN = {"seed", "start", "count", "out"}: injections start..start+count-1
of the campaign `seed`, one JSON line each in `out`. Injection i depends only on
(seed, i), so a campaign gives the same result however it is sharded.
"""

import json
import os
import random

import cocotb
from cocotb.triggers import ClockCycles

from chimney.contract import register_map
from chimney.sw.bus import DeviceTimeout
from chimney.sw.model import RefEngine, SimpleHostMemory
from chimney.sw.regs import Registers
from chimney.tb.backend import CocotbDevice, CocotbHostMemory, start, reset
from chimney.tb.classify import classify
from chimney.tb.cosim import CoSim
from chimney.tb.env import params_from_env, name_map
from chimney.tb.faults import RtlFaults, FAULT_CLASSES
from scenarios.campaign import scenario, live_words, choose_fault

POINTS = ("after_offload", "after_query", "during_terminate")


async def one(dut, device, memory, params, names, seed, i, classes=FAULT_CLASSES):
    rng = random.Random(f"{seed}:{i}")
    kind = classes[i % len(classes)]
    point = rng.choice(POINTS)
    scen_seed = rng.randrange(1 << 30)
    # golden: the same scenario, fault-free, on the reference model
    gold_mem = SimpleHostMemory(1 << 24)
    gold = CoSim(RefEngine(params, gold_mem), gold_mem, params, model=False)
    await gold.start()
    await scenario(gold, random.Random(scen_seed))
    # the RTL, with one fault
    await reset(dut)
    memory.reset()
    rtl = CoSim(device, memory, params, model=False, timeout_ns=5_000_000, irq_timeout_ns=100_000)
    faults = RtlFaults(dut, names)
    record = {"i": i, "class": kind, "point": point}

    delayed = []

    async def inject(where):
        if where != point:
            return
        fault = choose_fault(rng, kind, params, names, live_words(rtl, params))
        record["fault"] = fault.describe()
        if where == "during_terminate":
            delay = rng.randrange(1, 400)

            async def later():
                await ClockCycles(dut.clk, delay)
                faults.apply(fault)
            delayed.append(cocotb.start_soon(later()))
            record["fault"] += f" after {delay} cycles"
        else:
            faults.apply(fault)

    hang = False
    try:
        await rtl.start()
        await scenario(rtl, random.Random(scen_seed), inject)
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
            record["fault"] += " (after the scenario)"
            await task
    regs = Registers(device, params)
    counters = {}
    if not hang:
        for reg in ("ECC_CE_COUNT", "ECC_UE_COUNT", "ERR_STATUS", "STATUS"):
            counters[reg] = await regs.read(reg)
    owners = dict(gold.posted)          # NBL name -> connection (same names on both runs)
    noticed = bool(counters.get("ECC_CE_COUNT") or counters.get("ECC_UE_COUNT") or rtl.rtl.driver.errors
                   or "error" in record)
    outcome, why = classify(rtl.trace, gold.trace, tcp_names=set(gold.tcp_names()),
                            nbl_owner=owners, noticed=noticed, hang=hang)
    record.update(outcome=outcome, why=why[:300], counters=counters,
                  driver_errors=len(rtl.rtl.driver.errors))
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
                               tuple(cfg.get("classes") or FAULT_CLASSES))
            out.write(json.dumps(record) + "\n")
            out.flush()
