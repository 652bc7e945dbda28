"""cocotb: CTRL.RESET in the middle of every command type (tests/scenarios/reset.py) on
Icarus and Verilator, against cocotbext-axi's AxiSlave with random stalls on all five
channels; the AXI protocol monitors (chimney.tb.axi_monitor) watch the DMA port across
every reset."""

import os

import cocotb

from chimney.sw.regs import Registers
from chimney.tb.backend import CocotbDevice, CocotbHostMemory, start
from chimney.tb.env import params_from_env
from cocotb_dma_errors import stalls
from scenarios import reset
from scenarios.raw import RawRings


@cocotb.test()
async def reset_mid_command(dut):
    params = params_from_env()
    seed = int(os.environ["CHIMNEY_SEED"])
    rounds = int(os.environ.get("CHIMNEY_RESET_ROUNDS", 2 * len(reset.KINDS)))
    pause = stalls(seed)
    dut._log.info(f"reset mid-command: CHIMNEY_SEED={seed}, {rounds} rounds, stalls {pause}")
    await start(dut)
    memory = CocotbHostMemory(dut)
    memory.pause(pause, seed)
    regs = Registers(CocotbDevice(dut), params)
    rings = RawRings(regs, memory)
    await rings.start()
    log = await reset.reset_mid_command(rings, regs, memory, params, seed, rounds=rounds)
    dut._log.info(f"resets (kind, delay ns, busy): {log}")
