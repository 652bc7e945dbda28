"""cocotb: the real driver on the RTL, scoreboarded against the driver on the reference model."""

import os
import random

import cocotb

from chimney.tb.backend import CocotbDevice, CocotbHostMemory, start
from chimney.tb.cosim import CoSim
from chimney.tb.env import params_from_env, name_map
from chimney.tb.faults import RtlFaults
from scenarios import cosim


def seed():
    value = int(os.environ.get("CHIMNEY_SEED", "20261125"))
    cocotb.log.info(f"seed {value} (override with CHIMNEY_SEED)")
    return value


async def _run(dut, name, *, pause=0.0):
    params = params_from_env()
    await start(dut)
    memory = CocotbHostMemory(dut)
    if pause:
        memory.pause(pause, seed=seed())
    cs = CoSim(CocotbDevice(dut), memory, params)
    await cs.start()
    await cosim.ALL[name](cs, RtlFaults(dut, name_map()), random.Random(seed()))
    for line in cs.log:
        dut._log.debug(line)
    assert not cs.mismatches, "\n".join(f"{op}:\n  rtl {a}\n  ref {b}" for op, a, b in cs.mismatches[:3])
    assert not cs.rtl.driver.errors, cs.rtl.driver.errors


@cocotb.test()
@cocotb.parametrize(name=sorted(cosim.ALL))
async def cosim_scenario(dut, name):
    await _run(dut, name)


@cocotb.test()
async def cosim_back_pressure(dut):
    await _run(dut, "realistic_trees", pause=0.3)
