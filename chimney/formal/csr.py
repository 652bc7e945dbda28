"""The CSR port (`rtl.csr.CsrBlock`): an AXI4-Lite subordinate and its register file.

Assumed (the manager's obligations, AXI A3.2.1): AWVALID/WVALID/ARVALID held until
READY with a stable payload. BREADY and RREADY are free, as is every engine-side input
of the register file (RO values, `_set` and `_clr` strobes).

Asserted:
  * B and R: VALID held until READY, RESP and RDATA stable meanwhile;
  * exactly one B per write (a write is complete once both its AW and its W were
    accepted, in either order) and one R per AR: no response without a request, the
    response offered from the cycle after the request (B) or the second cycle after
    it (R: the address is decoded in between), and at most one of each outstanding
    (the block's documented one-at-a-time design);
  * RESP is OKAY for a mapped offset and SLVERR for an unmapped one (never EXOKAY),
    unmapped reads return 0;
  * register semantics, against an independent model built from the register map:
    RW and DB bytes follow WSTRB, RW1C bits clear only where 1 is written and engine
    sets win, RWSC fields clear on the engine's strobe, a DB pulse comes in the cycle
    the new value is visible and only for a write touching the field, RO fields read
    the engine's value a cycle after the AR handshake, constants read their value, and
    a read returns the value stored a cycle after the AR handshake.

Mutants (each must fail): `bvalid_drop` a wrapper that lowers BVALID for a cycle
while the manager stalls; `rw1c_as_rw` IRQ_STATUS.CPL built as a plain RW field;
`wstrb_ignored` the block sees all byte strobes set; `extra_r` a wrapper that raises
RVALID without a read.
"""

from dataclasses import replace

from amaranth.hdl import Assert, Assume, Cat, Const, Cover, Elaboratable, Module, Mux, Signal, ClockDomain

from chimney.contract import EngineParams, register_map
from chimney.contract.regmap import RegisterMap, Register
from chimney.rtl.axi import RESP_OKAY, RESP_SLVERR, RESP_EXOKAY
from chimney.rtl.csr import CsrBlock

from .rules import free, handshake_hold, past, started

MUTANTS = {
    "bvalid_drop": "wrapper lowers BVALID for one cycle while BREADY is low",
    "rw1c_as_rw": "IRQ_STATUS.CPL built as RW instead of RW1C",
    "wstrb_ignored": "the block is given WSTRB=0xF whatever the manager sends",
    "extra_r": "wrapper raises RVALID with no read outstanding",
}


def _mutated_regmap(regmap):
    regs = []
    for reg in regmap:
        if reg.name == "IRQ_STATUS":
            fields = tuple(replace(f, access="RW") if f.name == "CPL" else f for f in reg.fields)
            reg = Register(reg.name, reg.offset, reg.doc, fields)
        regs.append(reg)
    return RegisterMap(regs, regmap.addr_bits)


class CsrPortHarness(Elaboratable):
    def __init__(self, params: EngineParams = EngineParams(), mutant=None):
        assert mutant in (None, *MUTANTS), mutant
        self.params = params
        self.mutant = mutant
        self.ports = None

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = cd = ClockDomain()
        self.ports = [cd.clk, cd.rst]
        m.d.comb += Assume(~cd.rst)            # registers start at their reset values
        go = started(m)

        spec = register_map(self.params)       # what the properties are checked against
        m.submodules.dut = dut = CsrBlock(self.params)
        if self.mutant == "rw1c_as_rw":
            dut.regmap = _mutated_regmap(dut.regmap)
        bus, regs = dut.bus, dut.regs
        ab = spec.addr_bits

        # ---- the manager: free, within its AXI obligations -------------------------
        awaddr, awvalid = free(m, ab, "m_awaddr"), free(m, 1, "m_awvalid")
        wdata, wstrb, wvalid = free(m, 32, "m_wdata"), free(m, 4, "m_wstrb"), free(m, 1, "m_wvalid")
        bready = free(m, 1, "m_bready")
        araddr, arvalid = free(m, ab, "m_araddr"), free(m, 1, "m_arvalid")
        rready = free(m, 1, "m_rready")
        m.d.comb += [
            bus.awaddr.eq(awaddr), bus.awvalid.eq(awvalid), bus.awprot.eq(free(m, 3, "m_awprot")),
            bus.wdata.eq(wdata), bus.wstrb.eq(0xF if self.mutant == "wstrb_ignored" else wstrb),
            bus.wvalid.eq(wvalid), bus.bready.eq(bready),
            bus.araddr.eq(araddr), bus.arvalid.eq(arvalid), bus.arprot.eq(free(m, 3, "m_arprot")),
            bus.rready.eq(rready),
        ]
        # what the manager sees of the subordinate (mutant wrappers sit here)
        awready, wready, arready = bus.awready, bus.wready, bus.arready
        bvalid, bresp = Signal(name="s_bvalid"), bus.bresp
        rvalid, rdata, rresp = Signal(name="s_rvalid"), bus.rdata, bus.rresp
        m.d.comb += [bvalid.eq(bus.bvalid), rvalid.eq(bus.rvalid)]
        if self.mutant == "bvalid_drop":
            glitch = free(m, 1, "mut_glitch")
            m.d.comb += bvalid.eq(bus.bvalid & ~(glitch & ~bready))
        if self.mutant == "extra_r":
            m.d.comb += rvalid.eq(bus.rvalid | free(m, 1, "mut_extra"))

        handshake_hold(m, Assume, go, "AW", awvalid, awready, awaddr)
        handshake_hold(m, Assume, go, "W", wvalid, wready, Cat(wdata, wstrb))
        handshake_hold(m, Assume, go, "AR", arvalid, arready, araddr)
        handshake_hold(m, Assert, go, "B", bvalid, bready, bresp)
        handshake_hold(m, Assert, go, "R", rvalid, rready, Cat(rdata, rresp))

        aw_hs, w_hs, ar_hs = awvalid & awready, wvalid & wready, arvalid & arready
        b_hs, r_hs = bvalid & bready, rvalid & rready

        # ---- engine side of the register file: free --------------------------------
        eng_in = {}
        for reg in spec:
            port = getattr(regs, reg.name)
            for f in reg.fields:
                for suffix in {"RO": ("",), "RWSC": ("_clr",), "RW1C": ("_set",)}.get(f.access, ()):
                    if f.access == "RO" and f.const:
                        continue
                    name = f.name + suffix
                    width = 1 if suffix == "_clr" else f.width
                    sig = free(m, width, f"e_{reg.name}_{name}")
                    m.d.comb += getattr(port, name).eq(sig)
                    eng_in[reg.name, name] = sig

        # ---- a write happens once both its AW and its W were accepted ---------------
        pend_aw, pend_w = Signal(name="pend_aw"), Signal(name="pend_w")
        pend_addr, pend_data, pend_strb = Signal(ab), Signal(32), Signal(4)
        have_aw, have_w = aw_hs | pend_aw, w_hs | pend_w
        wr = Signal(name="spec_write")
        m.d.comb += wr.eq(have_aw & have_w)
        w_addr = Mux(pend_aw, pend_addr, awaddr)
        w_data = Mux(pend_w, pend_data, wdata)
        w_strb = Mux(pend_w, pend_strb, wstrb)
        with m.If(wr):
            m.d.sync += [pend_aw.eq(0), pend_w.eq(0)]
        with m.Else():
            with m.If(aw_hs):
                m.d.sync += [pend_aw.eq(1), pend_addr.eq(awaddr)]
            with m.If(w_hs):
                m.d.sync += [pend_w.eq(1), pend_data.eq(wdata), pend_strb.eq(wstrb)]
        # this block takes AW and W in the same cycle (csr.py: "take AW and W together"),
        # which a subordinate may do; the model above would also follow either order
        m.d.comb += Assert(~pend_aw & ~pend_w, "AW and W accepted in different cycles (not modelled further)")
        wmask = Cat(*(b.replicate(8) for b in w_strb))

        # ---- the model of every stored field ---------------------------------------
        exp_word = {}
        mapped_w = Const(0)
        for reg in spec:
            port = getattr(regs, reg.name)
            hit = Signal(name=f"spec_{reg.name}_hit")
            m.d.comb += hit.eq(wr & (w_addr[2:] == reg.offset // 4))
            mapped_w = mapped_w | hit
            word = Signal(32, name=f"spec_{reg.name}_word")
            store = hit
            if reg.lock:                    # ignored while the lock field reads 1 (DMA windows)
                store = Signal(name=f"spec_{reg.name}_store")
                m.d.comb += store.eq(hit & ~eng_in[tuple(reg.lock.split("."))])
            for f in reg.fields:
                sl = slice(f.lsb, f.lsb + f.width)
                if f.access == "RO":
                    value = Const(f.reset, f.width) if f.const else eng_in[reg.name, f.name]
                    m.d.comb += word[sl].eq(value)
                    continue
                model = Signal(f.width, init=f.reset, name=f"spec_{reg.name}_{f.name}")
                m.d.comb += word[sl].eq(model)
                fmask, fdata = wmask[sl], w_data[sl]
                merged = (model & ~fmask) | (fdata & fmask)
                if f.access == "RW1C":
                    cleared = Mux(hit, model & ~(fdata & fmask), model)
                    m.d.sync += model.eq(cleared | eng_in[reg.name, f.name + "_set"])
                else:
                    with m.If(store):
                        m.d.sync += model.eq(merged)
                if f.access == "RWSC":
                    with m.If(eng_in[reg.name, f.name + "_clr"]):
                        m.d.sync += model.eq(0)
                if f.access == "DB":
                    pulse = past(m, hit & fmask.any(), f"spec_{reg.name}_{f.name}_pulse")
                    m.d.comb += Assert(getattr(port, f.name + "_we") == pulse,
                                       f"{reg.name}.{f.name}: doorbell pulse")
                m.d.comb += Assert(getattr(port, f.name) == model, f"{reg.name}.{f.name}: stored value")
            exp_word[reg] = word

        # ---- B: one per write, from the next cycle, OKAY iff mapped ---------------
        pend_b = Signal(2, name="pend_b")
        exp_bresp = Signal(2, name="exp_bresp")
        m.d.sync += pend_b.eq(pend_b + wr - b_hs)
        with m.If(wr):
            m.d.sync += exp_bresp.eq(Mux(mapped_w, RESP_OKAY, RESP_SLVERR))
        m.d.comb += [
            Assert(pend_b <= 1, "a second write accepted before the first one's B"),
            Assert(bvalid == (pend_b != 0), "B: offered exactly while a write is owed one"),
        ]
        with m.If(bvalid):
            m.d.comb += [Assert(bresp != RESP_EXOKAY, "B: EXOKAY on AXI4-Lite"),
                         Assert(bresp == exp_bresp, "B: RESP is OKAY iff the offset is mapped")]

        # ---- R: one per AR, two cycles after it, the value one cycle after it ------
        # (csr.py registers the decoded address when AR is taken and selects the data
        # in the next cycle, so the word read is the one stored in that cycle)
        pend_r = Signal(2, name="pend_r")
        r_select = Signal(name="r_select")          # the cycle after the AR handshake
        r_addr = Signal(ab, name="r_addr")
        exp_rdata, exp_rresp = Signal(32, name="exp_rdata"), Signal(2, name="exp_rresp")
        m.d.sync += [pend_r.eq(pend_r + ar_hs - r_hs), r_select.eq(ar_hs)]
        with m.If(ar_hs):
            m.d.sync += r_addr.eq(araddr)
        with m.If(r_select):
            m.d.sync += [exp_rdata.eq(0), exp_rresp.eq(RESP_SLVERR)]
            for reg, word in exp_word.items():
                with m.If(r_addr[2:] == reg.offset // 4):
                    m.d.sync += [exp_rdata.eq(word), exp_rresp.eq(RESP_OKAY)]
        m.d.comb += [
            Assert(pend_r <= 1, "a second AR accepted before the first one's R"),
            Assert(rvalid == ((pend_r != 0) & ~r_select), "R: offered exactly while a read is owed one"),
        ]
        with m.If(rvalid):
            m.d.comb += [Assert(rresp != RESP_EXOKAY, "R: EXOKAY on AXI4-Lite"),
                         Assert(rresp == exp_rresp, "R: RESP is OKAY iff the offset is mapped"),
                         Assert(rdata == exp_rdata, "R: data is the value a cycle after the AR handshake")]

        # ---- covers: the interesting traces exist -----------------------------------
        scratch = spec["SCRATCH"].offset
        irq = spec["IRQ_STATUS"]
        cpl = getattr(regs.IRQ_STATUS, "CPL")
        was_cpl = past(m, cpl, "cov_was_cpl")
        b_stall = past(m, bvalid & ~bready, "cov_b_stall")
        aw_first = past(m, awvalid & ~wvalid, "cov_aw_first")
        w_first = past(m, wvalid & ~awvalid, "cov_w_first")
        wrote_scratch = Signal(name="cov_wrote_scratch")
        with m.If(wr & (w_addr[2:] == scratch // 4) & (w_strb == 0xF)):
            m.d.sync += wrote_scratch.eq(1)
        rd_scratch = Signal(name="cov_rd_scratch")
        with m.If(ar_hs):
            m.d.sync += rd_scratch.eq(wrote_scratch & (araddr[2:] == scratch // 4))
        m.d.comb += [
            Cover(r_hs & rd_scratch & (rdata == 0x5A5A0001)),                             # write, read back
            Cover(b_hs & (bresp == RESP_SLVERR)),                                       # unmapped write
            Cover(r_hs & (rresp == RESP_SLVERR)),                                       # unmapped read
            Cover(go & was_cpl & ~cpl),                                                 # RW1C cleared by host
            Cover(regs.CMDQ_PROD.INDEX_we),                                             # doorbell pulse
            Cover(regs.ERRINJ_CTRL.ARM & eng_in["ERRINJ_CTRL", "ARM_clr"]),             # RWSC clear
            Cover(go & b_stall & b_hs),                                                 # B held, then taken
            Cover(go & aw_first & wr),                                                  # AW before W
            Cover(go & w_first & wr),                                                   # W before AW
            Cover(b_hs & r_hs),                                                         # both at once
        ]
        return m
