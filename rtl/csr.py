"""The CSR block: an AXI4-Lite register file generated from the contract's register map.

Each register of `chimney.contract.register_map()` becomes a member of `regs`,
and each field a signal in it, by access kind:

  RO    field: In      the engine drives it (constants are built in)
  RW    field: Out     the stored value
  RWSC  field: Out, field_clr: In      the engine clears it when done
  RW1C  field: Out, field_set: In      engine sets bits; host writes 1 to clear
  DB    field: Out, field_we: Out      stored value plus a one-cycle pulse once it is visible

One read and one write are handled at a time; unmapped offsets answer SLVERR and change
nothing; a write to a register with a `lock` is answered OKAY and ignored while its
lock field reads 1. Offsets are decoded by 32-bit word: the low two address bits are ignored (the
AXI4-Lite convention; byte lanes come from WSTRB). A read
answers (RVALID) two cycles after its AR handshake, a write (BVALID) one cycle after its
AW/W handshake.
"""

from amaranth.hdl import Module, Signal, Const, Cat, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from chimney.contract import register_map, EngineParams

from .axi import AxiLiteSignature, RESP_OKAY, RESP_SLVERR
from .pack import or_all


def _field_members(f):
    if f.access == "RO":
        return {} if f.const else {f.name: In(f.width)}
    members = {f.name: Out(f.width)}
    if f.access == "RWSC":
        members[f.name + "_clr"] = In(1)
    elif f.access == "RW1C":
        members[f.name + "_set"] = In(f.width)
    elif f.access == "DB":
        members[f.name + "_we"] = Out(1)
    return members


def regs_signature(regmap):
    return wiring.Signature({
        reg.name: Out(wiring.Signature({k: v for f in reg.fields for k, v in _field_members(f).items()}))
        for reg in regmap
    })


class CsrBlock(wiring.Component):
    def __init__(self, params: EngineParams = EngineParams()):
        self.regmap = register_map(params)
        super().__init__({
            "bus": In(AxiLiteSignature(self.regmap.addr_bits, 32)),
            "regs": Out(regs_signature(self.regmap)),
        })

    def elaborate(self, platform):
        m = Module()
        bus = self.bus

        # --- storage and engine-side behaviour of every field ----------------
        stored = {}                  # (reg, field) -> Signal holding host-visible state
        read_value = {}              # reg name -> 32-bit read value
        for reg in self.regmap:
            port = getattr(self.regs, reg.name)
            parts = []
            for f in reg.fields:
                if f.access == "RO":
                    value = Const(f.reset, f.width) if f.const else getattr(port, f.name)
                else:
                    value = Signal(f.width, init=f.reset, name=f"{reg.name}_{f.name}")
                    stored[reg.name, f.name] = value
                    m.d.comb += getattr(port, f.name).eq(value)
                parts.append((f.lsb, f.width, value))
            word = Signal(32, name=f"{reg.name}_rd")
            for lsb, width, value in parts:
                m.d.comb += word[lsb:lsb + width].eq(value)
            read_value[reg.name] = word

        # --- write channel: take AW and W together, answer on B ----------------
        wr_take = Signal()
        bvalid = Signal()
        bresp = Signal(2)
        m.d.comb += [
            wr_take.eq(bus.awvalid & bus.wvalid & ~bvalid),
            bus.awready.eq(wr_take),
            bus.wready.eq(wr_take),
            bus.bvalid.eq(bvalid),
            bus.bresp.eq(bresp),
        ]
        with m.If(bvalid & bus.bready):
            m.d.sync += bvalid.eq(0)

        wmask = Signal(32)
        m.d.comb += wmask.eq(Cat(*[b.replicate(8) for b in bus.wstrb]))
        waddr = Signal(self.regmap.addr_bits - 2)
        m.d.comb += waddr.eq(bus.awaddr[2:])
        wdata = bus.wdata & wmask

        hit_any = Signal()
        for reg in self.regmap:
            port = getattr(self.regs, reg.name)
            hit = Signal(name=f"{reg.name}_wr")
            m.d.comb += hit.eq(wr_take & (waddr == reg.offset // 4))
            with m.If(hit):
                m.d.comb += hit_any.eq(1)
            if reg.lock:
                # a locked register answers OKAY and keeps its value (the DMA windows while enabled)
                lock_reg, lock_field = reg.lock.split(".")
                store = Signal(name=f"{reg.name}_store")
                m.d.comb += store.eq(hit & ~getattr(getattr(self.regs, lock_reg), lock_field))
                hit = store
            for f in reg.fields:
                if f.access == "RO":
                    continue
                value = stored[reg.name, f.name]
                new = wdata[f.lsb:f.lsb + f.width]
                keep = value & ~wmask[f.lsb:f.lsb + f.width]
                if f.access == "RW1C":
                    # engine sets win over a host clear in the same cycle
                    cleared = Signal(f.width, name=f"{reg.name}_{f.name}_clrd")
                    m.d.comb += cleared.eq(value)
                    with m.If(hit):
                        m.d.comb += cleared.eq(value & ~new)
                    m.d.sync += value.eq(cleared | getattr(port, f.name + "_set"))
                    continue
                with m.If(hit):
                    m.d.sync += value.eq(keep | new)
                if f.access == "RWSC":
                    with m.If(getattr(port, f.name + "_clr")):
                        m.d.sync += value.eq(0)
                if f.access == "DB":
                    # pulse in the cycle the new value is visible on the field output
                    m.d.sync += getattr(port, f.name + "_we").eq(hit & (wmask[f.lsb:f.lsb + f.width] != 0))
        with m.If(wr_take):
            m.d.sync += [bvalid.eq(1), bresp.eq(RESP_OKAY)]
            with m.If(~hit_any):
                m.d.sync += bresp.eq(RESP_SLVERR)

        # --- read channel ------------------------------------------------------
        # The address is registered when AR is taken and the register selected in the next
        # cycle (timing: the ~60-way read mux does not follow araddr's routing in one
        # cycle); RVALID comes two cycles after the AR handshake.
        rvalid = Signal()
        rdata = Signal(32)
        rresp = Signal(2)
        rd_take = Signal()
        rd_pending = Signal()
        regs = list(self.regmap)
        rsel = Signal(len(regs))                 # one-hot: the register being read (0: unmapped)
        m.d.comb += [
            rd_take.eq(bus.arvalid & ~rvalid & ~rd_pending),
            bus.arready.eq(rd_take),
            bus.rvalid.eq(rvalid),
            bus.rdata.eq(rdata),
            bus.rresp.eq(rresp),
        ]
        with m.If(rvalid & bus.rready):
            m.d.sync += rvalid.eq(0)
        with m.If(rd_take):
            m.d.sync += [rd_pending.eq(1),
                         rsel.eq(Cat(*(bus.araddr[2:] == reg.offset // 4 for reg in regs)))]
        with m.If(rd_pending):
            # an AND-OR over the one-hot select: no address decode in front of the mux
            m.d.sync += [rd_pending.eq(0), rvalid.eq(1),
                         rdata.eq(or_all([read_value[reg.name] & rsel[i].replicate(32)
                                           for i, reg in enumerate(regs)])),
                         rresp.eq(Mux(rsel.any(), RESP_OKAY, RESP_SLVERR))]
        return m
