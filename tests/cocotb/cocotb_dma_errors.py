"""cocotb: the DMA read error scenarios of tests/scenarios/dma_errors.py on Icarus and Verilator,
against cocotbext-axi's AxiSlave with random stalls on all five channels."""

import os
import random

import cocotb

from chimney.sw.regs import Registers
from chimney.tb.backend import CocotbDevice, CocotbHostMemory, start
from chimney.tb.env import params_from_env
from scenarios import dma_errors
from scenarios.raw import RawRings


class HostFaults:
    """`faults` for the scenarios: read-only error ranges of the cocotb host memory."""

    def __init__(self, memory):
        self.memory = memory

    def fail(self, lo, hi, resp):
        self.memory.fail(lo, hi, write=False, resp=resp)

    def clear(self):
        self.memory.clear_faults()


def stalls(seed):
    """Stall probability per channel; R often stalled, as in the Amaranth runs."""
    rng = random.Random(seed ^ 0x5EED)
    pause = {ch: rng.choice([0.0, 0.2, 0.4]) for ch in ("aw", "w", "b", "ar")}
    pause["r"] = rng.choice([0.5, 0.6, 0.7, 0.8])
    return pause


async def started_rings(dut, what):
    """The engine out of reset behind a host memory with the seed's stalls, and started
    raw rings: (params, seed, memory, regs, rings)."""
    params = params_from_env()
    seed = int(os.environ["CHIMNEY_SEED"])
    pause = stalls(seed)
    dut._log.info(f"{what}: CHIMNEY_SEED={seed}, stalls {pause}")
    await start(dut)
    memory = CocotbHostMemory(dut)
    memory.pause(pause, seed)
    regs = Registers(CocotbDevice(dut), params)
    rings = RawRings(regs, memory)
    await rings.start()
    return params, seed, memory, regs, rings


@cocotb.test()
@cocotb.parametrize(name=sorted(dma_errors.ALL))
async def scenario(dut, name):
    params, seed, memory, regs, rings = await started_rings(dut, name)
    await dma_errors.ALL[name](rings, regs, memory, params, HostFaults(memory), seed)
