"""cocotb: the whole-engine scenarios of tests/scenarios/engine.py on Icarus and Verilator."""

import cocotb

from scenario_run import run_scenario
from scenarios import engine


@cocotb.test()
@cocotb.parametrize(scenario=sorted(engine.ALL))
async def scenario(dut, scenario):
    await run_scenario(dut, scenario)
