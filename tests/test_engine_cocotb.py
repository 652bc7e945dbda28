"""The whole-engine scenarios through cocotb, on every selected simulator."""

from chimney.tb import simbuild
from scenarios import engine


def test_engine_scenarios(sim):
    assert simbuild.run(sim, "cocotb_engine") == len(engine.ALL)
