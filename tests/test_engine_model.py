"""The whole-engine scenarios of tests/scenarios/engine.py on the reference model.

Over RefEngine every coroutine completes without suspending, so a scenario runs
synchronously; the same assertions then hold for the contract's executable model and,
through test_engine_amaranth.py / test_engine_cocotb.py, for the RTL."""

import pytest

from chimney.contract import EngineParams
from chimney.sw.harness import run_sync
from chimney.sw.model import RefEngine, SimpleHostMemory
from chimney.sw.regs import Registers
from scenarios import engine

SMALL = EngineParams(n_neighbor=4, n_path=8, n_tcp=16, n_req=32, dma_timeout=2000)


def _run(name):
    memory = SimpleHostMemory(1 << 24)
    regs = Registers(RefEngine(SMALL, memory), SMALL)
    body = engine.ALL[name]
    rings = engine.rings_for(body, regs, memory)

    async def main():
        await rings.start()
        await body(rings, regs, memory, SMALL)
    run_sync(main())


@pytest.mark.parametrize("scenario", sorted(engine.ALL))
def test_engine_scenario_on_model(scenario):
    _run(scenario)
