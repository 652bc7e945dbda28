"""cocotb through the vendor wrapper (`chimney_engine_axi`: aclk, active-low aresetn,
s_axil_*, m_axi_*): the unchanged driver and host memory, found by the wrapper's names."""

import cocotb

from chimney.tb.env import ports
from scenario_run import run_scenario

SCENARIOS = ("nop_and_unknown_opcode", "offload_query_terminate", "requests_handed_back_in_order")


@cocotb.test()
@cocotb.parametrize(scenario=SCENARIOS)
async def driver_through_the_wrapper(dut, scenario):
    assert ports().rst == "aresetn", "this module runs on the wrapper top"
    await run_scenario(dut, scenario)     # aresetn low, the AXI monitors on s_axil_* and m_axi_*
    csr, dma = dut._chimney_monitors          # they saw the traffic under the wrapper's names
    # every channel carried traffic (the READY poll pauses between reads, so a scenario
    # makes only a few CSR reads: ID and READY at least)
    assert all(csr.handshakes.get(ch, 0) >= 2 for ch in ("aw", "w", "b", "ar", "r")), csr.handshakes
    assert csr.handshakes["ar"] == csr.handshakes["r"] and csr.handshakes["aw"] == csr.handshakes["b"]
    assert all(dma.handshakes.get(ch, 0) > 0 for ch in ("aw", "w", "b", "ar", "r")), dma.handshakes
