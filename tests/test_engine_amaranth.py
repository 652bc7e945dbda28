"""The whole engine in Amaranth's simulator: the scenarios of tests/scenarios/engine.py."""

import pytest

from chimney.contract import EngineParams
from chimney.sw.regs import Registers
from chimney.tb.amaranth_backend import run_engine
from scenarios import engine

SMALL = EngineParams(n_neighbor=4, n_path=8, n_tcp=16, n_req=32, dma_timeout=2000)


def _scenario(name):
    """A run_engine body: bring the rings up, then the scenario `name` of scenarios/engine.py."""
    async def bench(ctx, dut, device, memory, axi):
        regs = Registers(device, SMALL)
        body = engine.ALL[name]
        rings = engine.rings_for(body, regs, memory)
        await rings.start()
        await body(rings, regs, memory, SMALL)
    return bench


@pytest.mark.parametrize("scenario", sorted(engine.ALL))
def test_engine(scenario):
    axi = run_engine(SMALL, _scenario(scenario))
    assert axi.violations == []


def test_engine_under_back_pressure():
    """The round trip again with random stalls on every AXI channel and slow responses."""
    axi = run_engine(SMALL, _scenario("requests_handed_back_in_order"), pause=0.4, read_latency=5, seed=3)
    assert axi.violations == []


def test_engine_with_a_subordinate_that_waits_for_w():
    """Host memory that raises AWREADY only after the burst's W data (AXI4 allows it):
    the DMA master must send W without waiting for AWREADY, or nothing is written."""
    axi = run_engine(SMALL, _scenario("requests_handed_back_in_order"), pause=0.2, aw_waits_for_w=True, seed=5)
    assert axi.violations == []
    assert axi.stats.get("w_ahead_cycles", 0) > 0
