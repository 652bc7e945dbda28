"""The DMA read error scenarios (tests/scenarios/dma_errors.py) through cocotb, on every
selected simulator. Prints its seed; CHIMNEY_SEED=<n> or =random as for the Amaranth runs."""

from chimney.tb import simbuild
from scenarios import dma_errors
from scenarios.diff import seed_from_env


def test_dma_read_errors(sim):
    seed = seed_from_env(1101)
    print(f"dma read errors on {sim}: CHIMNEY_SEED={seed}")
    assert simbuild.run(sim, "cocotb_dma_errors", extra_env={"CHIMNEY_SEED": str(seed)}) == len(dma_errors.ALL)
