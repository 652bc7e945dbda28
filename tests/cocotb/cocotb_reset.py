"""cocotb: CTRL.RESET in the middle of every command type (tests/scenarios/reset.py) on
Icarus and Verilator, against cocotbext-axi's AxiSlave with random stalls on all five
channels; the AXI protocol monitors (chimney.tb.axi_monitor) watch the DMA port across
every reset."""

import os

import cocotb

from cocotb_dma_errors import started_rings
from scenarios import reset


@cocotb.test()
async def reset_mid_command(dut):
    rounds = int(os.environ.get("CHIMNEY_RESET_ROUNDS", 2 * len(reset.KINDS)))
    params, seed, memory, regs, rings = await started_rings(dut, f"reset mid-command, {rounds} rounds")
    log = await reset.reset_mid_command(rings, regs, memory, params, seed, rounds=rounds)
    dut._log.info(f"resets (kind, delay ns, busy): {log}")
