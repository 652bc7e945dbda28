"""The engine's top level: CSR slave, DMA master, one interrupt line.

    csr  AXI4-Lite subordinate (the driver's register window)
    dma  AXI4 manager (host memory: rings, lists, state write-back)
    irq  level interrupt, |(IRQ_STATUS & IRQ_MASK)
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from chimney.contract import EngineParams

from .axi import AxiLiteSignature, AxiSignature
from .csr import CsrBlock


class ChimneyEngine(wiring.Component):
    def __init__(self, params: EngineParams = EngineParams()):
        self.params = params
        self.csr_block = CsrBlock(params)
        super().__init__({
            "csr": In(AxiLiteSignature(self.csr_block.regmap.addr_bits, 32)),
            "dma": Out(AxiSignature(params.addr_width, params.data_width)),
            "irq": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.csr = csr = self.csr_block
        wiring.connect(m, wiring.flipped(self.csr), csr.bus)
        regs = csr.regs

        # Interrupt: a level from the enabled causes.
        irq_status = Signal(3)
        m.d.comb += [
            irq_status.eq(regs.IRQ_STATUS.CPL | regs.IRQ_STATUS.EVT << 1 | regs.IRQ_STATUS.ERR << 2),
            self.irq.eq((irq_status & (regs.IRQ_MASK.CPL | regs.IRQ_MASK.EVT << 1
                                       | regs.IRQ_MASK.ERR << 2)).any()),
        ]
        m.d.comb += regs.STATUS.READY.eq(1)

        # Command doorbell guard: a producer index more than a ring ahead is refused.
        cmdq_prod = Signal(16)
        cmdq_cons = Signal(16)
        ahead = Signal(16)
        m.d.comb += [
            ahead.eq(regs.CMDQ_PROD.INDEX - cmdq_cons),
            regs.CMDQ_CONS.INDEX.eq(cmdq_cons),
        ]
        with m.If(regs.CMDQ_PROD.INDEX_we):
            with m.If(ahead > (1 << regs.CMDQ_SIZE.LOG2)):
                m.d.comb += regs.ERR_STATUS.CMDQ_OVERFLOW_set.eq(1)
            with m.Else():
                m.d.sync += cmdq_prod.eq(regs.CMDQ_PROD.INDEX)

        # Any enabled error class raises IRQ_STATUS.ERR.
        err_bits = Signal(32)
        err_mask = Signal(32)
        for f in csr.regmap["ERR_STATUS"].fields:
            m.d.comb += [
                err_bits[f.lsb].eq(getattr(regs.ERR_STATUS, f.name + "_set")),
                err_mask[f.lsb].eq(getattr(regs.ERR_IRQ_MASK, f.name)),
            ]
        m.d.comb += regs.IRQ_STATUS.ERR_set.eq((err_bits & err_mask).any())
        return m

    # --- what the Verilog generator records in the name map ------------------
    def memory_paths(self):
        """{memory name: submodule path of its array} for every ECC memory."""
        return {}

    def probe_signals(self):
        """{logical name: Signal} of internal registers testbenches may inspect or corrupt."""
        return {}
