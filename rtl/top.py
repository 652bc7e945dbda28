"""The engine's top level: CSR slave, DMA master, one interrupt line.

    csr  AXI4-Lite subordinate (the driver's register window)
    dma  AXI4 manager (host memory: rings, lists, load blocks, state write-back)
    irq  level interrupt, |(IRQ_STATUS & IRQ_MASK)

Inside: the CSR block, the command engine (sequencer), the state tables (ten ECC
memories), the patrol scrubber, the emitter (every host write) and the DMA master.
This module only wires them; the CSR fields each one uses are named here, once.
"""

from amaranth.hdl import (Module, Signal, Cat, ClockDomain, ClockSignal, Const, DomainRenamer, Instance,
                          ResetInserter, ResetSignal)
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from chimney.contract import EngineParams, ErrorCode

from .axi import AxiLiteSignature, AxiSignature
from .csr import CsrBlock
from .dma import DmaMaster
from .emitter import Emitter
from .engine import CommandEngine
from .scrubber import Scrubber
from .reclaim import PoolReclaimer
from .portmux import merge_table_clients
from .tables import StateTables


#: how the engine's soft reset (CTRL.RESET: a synchronous reset of about 20 000 flops)
#: reaches them. "fabric": general routing (simulators, and vendor tools that buffer
#: and replicate high-fanout nets themselves). "ecp5": through a DCCA onto a global
#: network, which nextpnr-ecp5 does only for clocks on its own: on general routing that
#: one net left the default engine unroutable on the LFE5U-85F.
RESET_BUFFERS = ("fabric", "ecp5")


class ChimneyEngine(wiring.Component):
    def __init__(self, params: EngineParams = EngineParams(), *, reset_buffer: str = "fabric"):
        if reset_buffer not in RESET_BUFFERS:
            raise ValueError(f"reset_buffer {reset_buffer!r}: one of {', '.join(RESET_BUFFERS)}")
        self.params = params
        self.reset_buffer = reset_buffer
        self.csr_block = CsrBlock(params)
        self.engine = CommandEngine(params)
        self.tables = StateTables(params)
        self.scrubber = Scrubber(params)
        self.reclaimer = PoolReclaimer(params)
        self.emitter = Emitter(params)
        self.dma_master = DmaMaster(params)
        super().__init__({
            "csr": In(AxiLiteSignature(self.csr_block.regmap.addr_bits, 32)),
            "dma": Out(AxiSignature(params.addr_width, params.data_width)),
            "irq": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.csr = csr = self.csr_block
        r = csr.regs
        # CTRL.RESET restarts everything but the register file, like power-on: the
        # engine re-runs its table walk; CSR storage (ring bases, masks, RW1C status) stays.
        # It is taken at any time: the DMA master first finishes what it owes the bus
        # (`drain`: no new burst, R beats taken and dropped, W bursts completed with no
        # byte enabled, every B awaited; bounded by dma_timeout, past which the bus is
        # declared dead as for any timeout), then a one-cycle reset of the stages.
        reset_req, soft_reset = Signal(), Signal()
        with m.If(r.CTRL.RESET_we & r.CTRL.RESET):
            m.d.sync += reset_req.eq(1)
        with m.Elif(self.dma_master.drained):
            m.d.sync += reset_req.eq(0)
        m.d.sync += soft_reset.eq(reset_req & self.dma_master.drained)
        # the reset cycle itself still drains: nothing new may start on the bus in it
        m.d.comb += self.dma_master.drain.eq(reset_req | soft_reset)
        eng, tables, scrub, emit, dma = (self.engine, self.tables, self.scrubber, self.emitter,
                                         self.dma_master)
        recl = self.reclaimer
        subs = (("engine", eng), ("tables", tables), ("scrubber", scrub), ("reclaimer", recl), ("emitter", emit),
                ("dma", dma))
        if self.reset_buffer == "ecp5":
            # One reset net for the stages, the domain's and CTRL.RESET ORed *before* the
            # global buffer (a LUT after it would put the fan-out back on fabric routing):
            # the stages run in a local domain on the same clock net whose reset is the
            # DCCA's output. Synthesis only: the simulators run the "fabric" build.
            m.domains.stages = ClockDomain("stages", local=True)
            any_reset, buffered = Signal(), Signal()
            m.d.comb += [any_reset.eq(soft_reset | ResetSignal("sync", allow_reset_less=True)),
                         ClockSignal("stages").eq(ClockSignal("sync")), ResetSignal("stages").eq(buffered)]
            m.submodules.reset_dcca = Instance("DCCA", i_CLKI=any_reset, i_CE=Const(1), o_CLKO=buffered)
            for name, sub in subs:
                m.submodules[name] = DomainRenamer("stages")(sub)
        else:
            for name, sub in subs:
                m.submodules[name] = ResetInserter(soft_reset)(sub)

        wiring.connect(m, wiring.flipped(self.csr), csr.bus)
        wiring.connect(m, dma.axi, wiring.flipped(self.dma))

        # engine <-> tables, scrubber, emitter, DMA
        wiring.connect(m, eng.tables, tables.engine)
        # the scrubber and the pool reclaimer share the scrubber side of the tables; they
        # never run together: a requested reclaim holds the scrubber back between steps
        # and starts once the scrubber is between steps (never while halted, as the model)
        merge_table_clients(m, self.params, tables.scrub, [scrub.tables, recl.tables])
        m.d.comb += [
            tables.owner.eq(eng.scrub_grant),
            tables.init.eq(eng.tables_init),
            eng.tables_ready.eq(tables.ready),
            scrub.grant.eq(eng.scrub_grant & ~r.SCRUB_CTRL.RECLAIM),
            recl.grant.eq(eng.scrub_grant & ~scrub.busy & ~eng.halted),
            recl.start.eq(r.SCRUB_CTRL.RECLAIM), r.SCRUB_CTRL.RECLAIM_clr.eq(recl.done),
            r.RECLAIMED.COUNT.eq(recl.freed),
            eng.scrub_busy.eq(scrub.busy | recl.busy),
            tables.crc_fail.eq(eng.crc_fail | scrub.crc_fail),
            tables.crc_mem.eq(eng.crc_mem | scrub.crc_mem),
            tables.crc_addr.eq(eng.crc_addr | scrub.crc_addr),
        ]
        wiring.connect(m, scrub.report, eng.scrub_report)
        wiring.connect(m, eng.emit, emit.cmd)
        wiring.connect(m, eng.rec, emit.rec)
        m.d.comb += [
            emit.slot_we.eq(eng.slot_we), emit.slot_sel.eq(eng.slot_sel),
            emit.slot_word.eq(eng.slot_word), emit.slot_data.eq(eng.slot_data),
            eng.slot_busy.eq(emit.slot_busy), eng.fence_done.eq(emit.fence_done),
            emit.wr_idle.eq(dma.wr_idle),
        ]
        wiring.connect(m, emit.wr_req, dma.wr_req)
        wiring.connect(m, emit.wr_data, dma.wr_data)
        wiring.connect(m, eng.rd_req, dma.rd_req)
        wiring.connect(m, dma.rd_data, eng.rd_data)
        m.d.comb += eng.dma_fatal.eq(dma.fatal)

        # CSR fields -> engine
        m.d.comb += [
            eng.ctrl_we.eq(r.CTRL.RESET_we & ~r.CTRL.RESET), eng.ctrl_enable.eq(r.CTRL.ENABLE),
            eng.cmdq_base.eq(Cat(r.CMDQ_BASE_LO.ADDR, r.CMDQ_BASE_HI.ADDR)), eng.cmdq_log2.eq(r.CMDQ_SIZE.LOG2),
            eng.cmdq_prod.eq(r.CMDQ_PROD.INDEX), eng.cmdq_prod_we.eq(r.CMDQ_PROD.INDEX_we),
            eng.cplq_base.eq(Cat(r.CPLQ_BASE_LO.ADDR, r.CPLQ_BASE_HI.ADDR)), eng.cplq_log2.eq(r.CPLQ_SIZE.LOG2),
            eng.cplq_cons.eq(r.CPLQ_CONS.INDEX), eng.cplq_cons_we.eq(r.CPLQ_CONS.INDEX_we),
            eng.evtq_base.eq(Cat(r.EVTQ_BASE_LO.ADDR, r.EVTQ_BASE_HI.ADDR)), eng.evtq_log2.eq(r.EVTQ_SIZE.LOG2),
            eng.evtq_cons.eq(r.EVTQ_CONS.INDEX), eng.evtq_cons_we.eq(r.EVTQ_CONS.INDEX_we),
            *[eng.windows[i].eq(Cat(Const(0, 3), getattr(r, f"WIN{i}_BASE_LO").ADDR, getattr(r, f"WIN{i}_BASE_HI").ADDR,
                                    Const(7, 3), getattr(r, f"WIN{i}_LIMIT_LO").ADDR, getattr(r, f"WIN{i}_LIMIT_HI").ADDR))
              for i in range(self.params.n_windows)],
            r.CMDQ_CONS.INDEX.eq(eng.cmdq_cons), r.CPLQ_PROD.INDEX.eq(eng.cplq_prod),
            r.EVTQ_PROD.INDEX.eq(eng.evtq_prod),
            r.STATUS.ENABLED.eq(eng.enabled), r.STATUS.BUSY.eq(eng.busy), r.STATUS.HALTED.eq(eng.halted),
            r.STATUS.READY.eq(eng.ready & ~reset_req & ~soft_reset),   # not READY until the reset is done
            r.CMD_COUNT.COUNT.eq(eng.cmd_count), r.QUARANTINED.COUNT.eq(eng.quarantined),
        ]
        # scrubber
        m.d.comb += [
            scrub.enable.eq(r.CTRL.SCRUB_EN), scrub.interval.eq(r.SCRUB_INTERVAL.CYCLES),
            scrub.pass_req.eq(r.SCRUB_CTRL.PASS_we & r.SCRUB_CTRL.PASS),
            r.SCRUB_PASSES.COUNT.eq(scrub.passes),
        ]
        # ECC reporting and error injection
        m.d.comb += [
            tables.ecc_clear.eq(r.ECC_CTRL.CLEAR_we & r.ECC_CTRL.CLEAR),
            r.ECC_CE_COUNT.COUNT.eq(tables.ce_count), r.ECC_UE_COUNT.COUNT.eq(tables.ue_count),
            r.ECC_LAST_CE.ADDR.eq(tables.last_ce_addr), r.ECC_LAST_CE.MEM.eq(tables.last_ce_mem),
            r.ECC_LAST_CE.VALID.eq(tables.last_ce_valid), r.ECC_LAST_CE_SYN.SYNDROME.eq(tables.last_ce_syndrome),
            r.ECC_LAST_UE.ADDR.eq(tables.last_ue_addr), r.ECC_LAST_UE.MEM.eq(tables.last_ue_mem),
            r.ECC_LAST_UE.VALID.eq(tables.last_ue_valid), r.ECC_LAST_UE_SYN.SYNDROME.eq(tables.last_ue_syndrome),
            r.ECC_LAST_UE_SYN.KIND.eq(tables.last_ue_kind),
            tables.inj_arm.eq(r.ERRINJ_CTRL.ARM), tables.inj_mem.eq(r.ERRINJ_CTRL.MEM),
            tables.inj_mask.eq(Cat(r.ERRINJ_MASK_LO.MASK, r.ERRINJ_MASK_HI.MASK, r.ERRINJ_MASK_ECC.MASK)),
            r.ERRINJ_CTRL.ARM_clr.eq(tables.inj_done),
        ]
        # DMA errors
        m.d.comb += [
            r.DMA_ERR_ADDR_LO.ADDR.eq(dma.err_addr[:32]), r.DMA_ERR_ADDR_HI.ADDR.eq(dma.err_addr[32:]),
            r.DMA_ERR_INFO.RESP.eq(dma.err_resp), r.DMA_ERR_INFO.WRITE.eq(dma.err_write),
            r.DMA_ERR_INFO.TIMEOUT.eq(dma.err_timeout), r.DMA_ERR_INFO.VALID.eq(dma.rd_error | dma.wr_error),
        ]

        # ERR_STATUS: the engine's classes plus ECC events; enabled ones raise IRQ_STATUS.ERR
        err = Signal(32)
        m.d.comb += err.eq(eng.err_set)
        with m.If(tables.ce_event):
            m.d.comb += err[ErrorCode.ECC_CORRECTED].eq(1)
        with m.If(tables.ue_event):
            m.d.comb += err[ErrorCode.ECC_UNCORRECTABLE].eq(1)
        with m.If(dma.err_event):
            with m.If(dma.err_write):
                m.d.comb += err[ErrorCode.DMA_WRITE].eq(1)
            with m.Else():
                m.d.comb += err[ErrorCode.DMA_READ].eq(1)
        err_mask = Signal(32)
        for f in csr.regmap["ERR_STATUS"].fields:
            m.d.comb += [
                getattr(r.ERR_STATUS, f.name + "_set").eq(err[f.lsb]),
                err_mask[f.lsb].eq(getattr(r.ERR_IRQ_MASK, f.name)),
            ]
        m.d.comb += [
            r.IRQ_STATUS.CPL_set.eq(eng.irq_cpl),
            r.IRQ_STATUS.EVT_set.eq(eng.irq_evt),
            r.IRQ_STATUS.ERR_set.eq((err & err_mask).any()),
        ]
        irq_status = Cat(r.IRQ_STATUS.CPL, r.IRQ_STATUS.EVT, r.IRQ_STATUS.ERR)
        irq_mask = Cat(r.IRQ_MASK.CPL, r.IRQ_MASK.EVT, r.IRQ_MASK.ERR)
        m.d.comb += self.irq.eq((irq_status & irq_mask).any())
        return m

    # --- what the Verilog generator records in the name map ------------------
    def memory_paths(self):
        """{memory name: [(submodule path of a bank's array, first word, words)]} for every ECC memory."""
        return {name: [(("tables",) + path, base, depth) for path, base, depth in banks]
                for name, banks in self.tables.memory_paths().items()}

    def write_registers(self):
        """{memory name: (wq_en, wq_addr, wq_code)} Signals of every ECC memory's write register."""
        return self.tables.write_registers()

    def probe_signals(self):
        """{logical name: Signal} of internal registers testbenches may inspect or corrupt."""
        return dict(self.engine.probes)
