"""Run one of tests/scenarios/engine.py's scenarios in a cocotb test (no tests here: the
cocotb_* modules that import it hold them)."""

from chimney.sw.regs import Registers
from chimney.tb.backend import CocotbDevice, CocotbHostMemory, start
from chimney.tb.env import params_from_env
from scenarios import engine


async def run_scenario(dut, name):
    """Reset the top (the engine or the wrapper: chimney.tb.env.ports()), start the
    protocol monitors, and run scenario `name` through fresh rings."""
    params = params_from_env()
    await start(dut)
    memory = CocotbHostMemory(dut)
    regs = Registers(CocotbDevice(dut), params)
    body = engine.ALL[name]
    rings = engine.rings_for(body, regs, memory)
    await rings.start()
    await body(rings, regs, memory, params)
