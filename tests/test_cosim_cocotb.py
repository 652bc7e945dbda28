"""The driver on the RTL (cocotb) scoreboarded against the reference model, on every simulator."""

from chimney.tb import simbuild
from scenarios import cosim


def test_cosim(sim):
    assert simbuild.run(sim, "cocotb_cosim") == len(cosim.ALL) + 1
