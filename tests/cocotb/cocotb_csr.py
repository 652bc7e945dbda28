"""cocotb: the CSR scenarios over cocotbext-axi, on Icarus and Verilator."""

import cocotb

from chimney.sw.regs import Registers
from chimney.tb.backend import CocotbDevice, start
from chimney.tb.env import params_from_env
from scenarios import csr


async def _run(dut, name):
    params = params_from_env()
    await start(dut)
    await csr.ALL[name](Registers(CocotbDevice(dut), params), params)


@cocotb.test()
async def identity_and_capabilities(dut):
    await _run(dut, "identity_and_capabilities")


@cocotb.test()
async def reset_values_and_scratch(dut):
    await _run(dut, "reset_values_and_scratch")


@cocotb.test()
async def unmapped_offsets_answer_slverr(dut):
    await _run(dut, "unmapped_offsets_answer_slverr")


@cocotb.test()
async def error_raises_interrupt_rw1c_clears(dut):
    await _run(dut, "error_raises_interrupt_rw1c_clears")
