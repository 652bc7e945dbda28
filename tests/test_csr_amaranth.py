"""The CSR block in Amaranth's simulator, driven by the driver-side register window."""

import pytest

from chimney.contract import EngineParams
from chimney.sw.regs import Registers
from chimney.tb.amaranth_backend import AmaranthSimDevice, run_testbench
from scenarios import csr

PARAMS = {"default": EngineParams(), "tcp4096-noecc": EngineParams(n_tcp=4096, n_req=2048, ecc=False)}


@pytest.mark.parametrize("scenario", sorted(csr.RAW_OFFSETS))
@pytest.mark.parametrize("config", sorted(PARAMS))
def test_csr(scenario, config):
    params = PARAMS[config]

    async def body(ctx, dut):
        await csr.RAW_OFFSETS[scenario](Registers(AmaranthSimDevice(ctx, dut), params), params)

    run_testbench(params, body)
