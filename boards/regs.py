"""The board's own registers (boards/map.py `BOARD_REGS`) as an AXI4-Lite subordinate.

    BoardRegs(mem_size, clk_hz)   bus  In(AxiLiteSignature(8, 32))
                                  irq, bus_errors, framing_errors, overruns  In: what IRQ and LINK show

Reads answer in the cycle after the address; an unmapped offset reads 0 and a write to
a read-only one is ignored (both OKAY: the board's own registers are a debug window).
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from chimney.rtl.axi import AxiLiteSignature
from .map import BOARD_ID, BOARD_REGS, BOARD_VERSION, HOSTMEM_BASE

__all__ = ["BoardRegs"]


class BoardRegs(wiring.Component):
    def __init__(self, mem_size, clk_hz):
        self.mem_size, self.clk_hz = mem_size, clk_hz
        super().__init__({"bus": In(AxiLiteSignature(8, 32)), "irq": In(1), "bus_errors": In(8),
                          "framing_errors": In(8), "overruns": In(8)})

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        scratch = Signal(32)
        values = {"ID": BOARD_ID, "VERSION": BOARD_VERSION, "IRQ": self.irq,
                  "LINK": Cat(self.bus_errors, self.framing_errors, self.overruns),
                  "HOSTMEM_BASE": HOSTMEM_BASE, "HOSTMEM_SIZE": self.mem_size, "CLK_HZ": self.clk_hz,
                  "SCRATCH": scratch}
        assert set(values) == set(BOARD_REGS)
        # write: both AW and W, then B
        with m.If(bus.bvalid):
            with m.If(bus.bready):
                m.d.sync += bus.bvalid.eq(0)
        with m.Elif(bus.awvalid & bus.wvalid):
            m.d.comb += [bus.awready.eq(1), bus.wready.eq(1)]
            m.d.sync += bus.bvalid.eq(1)
            with m.If(bus.awaddr[2:] == BOARD_REGS["SCRATCH"][0] >> 2):
                for lane in range(4):
                    with m.If(bus.wstrb[lane]):
                        m.d.sync += scratch[8 * lane:8 * lane + 8].eq(bus.wdata[8 * lane:8 * lane + 8])
        # read
        with m.If(bus.rvalid):
            with m.If(bus.rready):
                m.d.sync += bus.rvalid.eq(0)
        with m.Elif(bus.arvalid):
            m.d.comb += bus.arready.eq(1)
            m.d.sync += [bus.rvalid.eq(1), bus.rdata.eq(0)]
            with m.Switch(bus.araddr[2:]):
                for name, (offset, _, _) in BOARD_REGS.items():
                    with m.Case(offset >> 2):
                        m.d.sync += bus.rdata.eq(values[name])
        return m
