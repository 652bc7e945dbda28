"""The driver on the RTL (cocotb) scoreboarded against the reference model, on every simulator."""

from chimney.contract import EngineParams
from chimney.tb import simbuild
from scenarios import cosim


def test_cosim(sim):
    assert simbuild.run(sim, "cocotb_cosim") == len(cosim.ALL) + 1


#: the engine on a 128-bit AXI bus: narrow 8-byte bursts, lane by address (rtl/dma.py),
#: against cocotbext-axi's AxiSlave as host memory, with random back-pressure
WIDE_BUS = EngineParams(data_width=128)


def test_cosim_on_a_128_bit_bus(sim):
    assert simbuild.run(sim, "cocotb_cosim", "cosim_back_pressure", params=WIDE_BUS) == 1
