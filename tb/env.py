"""What the pytest side hands a cocotb run: parameters, the name map, the simulator."""

import json
import os
from dataclasses import dataclass

from chimney.contract import EngineParams
from chimney.wrapper import ENGINE_INSTANCE, WRAPPER_NAME


def params_from_env():
    raw = os.environ.get("CHIMNEY_PARAMS")
    return EngineParams(**json.loads(raw)) if raw else EngineParams()


def name_map():
    with open(os.environ["CHIMNEY_NAMES"]) as f:
        return json.load(f)


def simulator():
    return os.environ.get("CHIMNEY_SIM", "unknown")


@dataclass(frozen=True)
class PortNames:
    """How the HDL top names its clock, reset and the two AXI interfaces."""
    clk: str
    rst: str
    rst_active_high: bool
    csr: str                 # the AXI4-Lite subordinate's prefix
    dma: str                 # the AXI4 manager's prefix
    sep: str                 # between prefix and AXI signal name
    engine: str              # the chimney_engine instance below the top ("": the top itself)

    def engine_of(self, dut):
        """The handle of the engine module itself (its internal signals hang below it)."""
        return getattr(dut, self.engine) if self.engine else dut


ENGINE_PORTS = PortNames("clk", "rst", True, "csr", "dma", "__", "")
WRAPPER_PORTS = PortNames("aclk", "aresetn", False, "s_axil", "m_axi", "_", ENGINE_INSTANCE)


def ports():
    """The port names of the top this run simulates (simbuild sets CHIMNEY_TOP)."""
    return WRAPPER_PORTS if os.environ.get("CHIMNEY_TOP") == WRAPPER_NAME else ENGINE_PORTS
