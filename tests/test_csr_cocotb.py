"""The CSR scenarios through cocotb, on every selected simulator."""

from chimney.tb import simbuild


def test_csr(sim):
    assert simbuild.run(sim, "cocotb_csr") == 4
