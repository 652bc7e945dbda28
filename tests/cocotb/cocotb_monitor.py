"""cocotb: the protocol monitors started by chimney.tb.backend.start fail a test at the
first violation. Here the testbench itself is the offender: as the CSR manager it drops
AWVALID before AWREADY (the block raises AWREADY only with WVALID)."""

import cocotb
from cocotb.triggers import ClockCycles, RisingEdge

from chimney.tb.backend import start


@cocotb.test()
async def manager_drops_awvalid(dut):
    await start(dut)
    dut.csr__awaddr.value = 0x1C
    dut.csr__wvalid.value = 0
    dut.csr__awvalid.value = 1
    await RisingEdge(dut.clk)
    await RisingEdge(dut.clk)
    dut.csr__awvalid.value = 0                 # gone before any handshake
    await ClockCycles(dut.clk, 5)
