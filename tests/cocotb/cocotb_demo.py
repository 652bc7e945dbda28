"""`make demo`: the co-simulation showcase.

The real driver offloads a realistic state tree to the RTL engine, posts sends and
receives, terminates part of the tree, then a double-bit error is deposited into one
connection's row in the engine's state RAM and the rest of the tree is terminated:
the host stack sees the full hardware-failure sequence. A second driver runs the same
operations on the reference model; every host-stack callback is compared.
"""

import json
import os
import random
from collections import Counter

import cocotb

from chimney.contract import NdisStatus, ObjType, data_words
from chimney.sw.ndis import walk_tree
from chimney.tb.backend import CocotbDevice, CocotbHostMemory, start
from chimney.tb.cosim import CoSim, failure_sequence_ok
from chimney.tb.env import params_from_env, name_map, simulator
from chimney.tb.faults import RtlFaults, Fault

SHAPE = [[3, 2], [4, 1]]                 # 2 neighbors, 4 paths, 10 connections


@cocotb.test()
async def demo(dut):
    params = params_from_env()
    rng = random.Random(int(os.environ.get("CHIMNEY_SEED", "2026")))
    await start(dut)
    memory = CocotbHostMemory(dut)
    cs = CoSim(CocotbDevice(dut), memory, params)
    await cs.start()
    faults = RtlFaults(dut, name_map())

    await cs.initiate("tree", SHAPE, seed=rng.randrange(1 << 30))
    tcps = cs.tcp_names()
    for conn in tcps:
        await cs.send(conn, [rng.randrange(100, 9000) for _ in range(rng.randrange(0, 3))])
        await cs.receive(conn, [rng.randrange(1000, 65536) for _ in range(rng.randrange(0, 2))])
    await cs.query(tcps[:3])
    partial = ["n0p0t0", "n0p0t1", "n1p1t0"]
    await cs.terminate(partial)

    victim = "n1p0t2"
    row = cs.rtl.driver.lookup(cs.rtl.blocks[victim]).index
    addr = row * data_words(ObjType.TCP) + 4
    fault = Fault("double", "tcp_data", addr, mask=(1 << 3) | (1 << 50))
    cs.inject(faults, fault)
    cs.log.append(f"[*] fault: {fault.describe()} (row of {victim}, in the RTL and in the model)")

    calls = await cs.terminate(key="tree", exclude=partial)
    retrieved = await cs.retrieve_failed()

    # --- what the host stack saw -----------------------------------------------------------
    log = cs.rtl.host.log
    seq_ok = failure_sequence_ok(cs, victim, retrieved)
    statuses = Counter()
    mismatched = 0
    for c in log:
        if c.name.endswith("_offload_complete") and c.name != "initiate_offload_complete":
            for b in walk_tree(c.obj):
                statuses[NdisStatus(b.status).name] += 1
    mismatched = len(cs.delegated_mismatches())
    report = {
        "simulator": simulator(),
        "offloaded": len(cs.names()),
        "terminated": len({b.name for c in log if c.name == "terminate_offload_complete"
                           for b in walk_tree(c.obj) if b.status in (NdisStatus.SUCCESS, NdisStatus.FAILURE)}),
        "status_counts": dict(statuses),
        "delegated_mismatches": mismatched,
        "failure_sequence_ok": bool(seq_ok),
        "driver_errors": len(cs.rtl.driver.errors),
        "scoreboard_mismatches": len(cs.mismatches),
        "log": cs.log,
    }
    with open(os.environ["CHIMNEY_DEMO_OUT"], "w") as f:
        json.dump(report, f, indent=1)
    assert seq_ok and mismatched == 0 and not cs.mismatches and not cs.rtl.driver.errors, report
