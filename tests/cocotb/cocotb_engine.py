"""cocotb: the whole-engine scenarios of tests/scenarios/engine.py on Icarus and Verilator."""

import cocotb

from chimney.sw.regs import Registers
from chimney.tb.backend import CocotbDevice, CocotbHostMemory, start
from chimney.tb.env import params_from_env
from scenarios import engine


@cocotb.test()
@cocotb.parametrize(scenario=sorted(engine.ALL))
async def scenario(dut, scenario):
    params = params_from_env()
    await start(dut)
    memory = CocotbHostMemory(dut)
    regs = Registers(CocotbDevice(dut), params)
    body = engine.ALL[scenario]
    rings = engine.rings_for(body, regs, memory)
    await rings.start()
    await body(rings, regs, memory, params)
