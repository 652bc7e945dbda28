"""AXI4 and AXI4-Lite signatures, seen from the manager (master) side.

Member names are the AXI signal names in lower case, so a component port
`csr: In(AxiLiteSignature(...))` flattens to `csr__awaddr`, ... which cocotbext-axi
finds with `from_prefix(dut, "csr", bus_separator="__")`.
"""

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

RESP_OKAY, RESP_EXOKAY, RESP_SLVERR, RESP_DECERR = 0, 1, 2, 3
BURST_INCR = 1


class AxiLiteSignature(wiring.Signature):
    def __init__(self, addr_width=12, data_width=32):
        self.addr_width = addr_width
        self.data_width = data_width
        super().__init__({
            "awaddr": Out(addr_width), "awprot": Out(3), "awvalid": Out(1), "awready": In(1),
            "wdata": Out(data_width), "wstrb": Out(data_width // 8), "wvalid": Out(1), "wready": In(1),
            "bresp": In(2), "bvalid": In(1), "bready": Out(1),
            "araddr": Out(addr_width), "arprot": Out(3), "arvalid": Out(1), "arready": In(1),
            "rdata": In(data_width), "rresp": In(2), "rvalid": In(1), "rready": Out(1),
        })


class AxiSignature(wiring.Signature):
    """AXI4 with one ID bit; the engine issues every transaction with ID 0."""

    def __init__(self, addr_width=64, data_width=64, id_width=1):
        self.addr_width = addr_width
        self.data_width = data_width
        self.id_width = id_width
        aw = {f"aw{k}": v for k, v in self._addr(addr_width, id_width).items()}
        ar = {f"ar{k}": v for k, v in self._addr(addr_width, id_width).items()}
        super().__init__({
            **aw, "awvalid": Out(1), "awready": In(1),
            "wdata": Out(data_width), "wstrb": Out(data_width // 8), "wlast": Out(1),
            "wvalid": Out(1), "wready": In(1),
            "bid": In(id_width), "bresp": In(2), "bvalid": In(1), "bready": Out(1),
            **ar, "arvalid": Out(1), "arready": In(1),
            "rid": In(id_width), "rdata": In(data_width), "rresp": In(2), "rlast": In(1),
            "rvalid": In(1), "rready": Out(1),
        })

    @staticmethod
    def _addr(addr_width, id_width):
        return {"id": Out(id_width), "addr": Out(addr_width), "len": Out(8), "size": Out(3),
                "burst": Out(2), "lock": Out(1), "cache": Out(4), "prot": Out(3)}
