"""The board's AXI4-Lite interconnect: one manager (the UART bridge), N subordinates by
address range, one transaction at a time.

    AxiLiteDecoder(regions)   bus  In(AxiLiteSignature(32, 32))         from the manager
                              <name> Out(AxiLiteSignature(bits, 32))   one per region

`regions`: (name, base, size) with size a power of two and base a multiple of it; a
subordinate sees the offset inside its region (its low `log2(size)` address bits). A
write is routed by AWADDR, a read by ARADDR; the decoder takes a new transaction only
when the last one has had its response, so the W beat and the response always belong to
the routed subordinate (a UART bridge issues one access at a time anyway). An address
in no region is answered DECERR here (a read with data 0), as AXI says an interconnect
without a default subordinate must.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from chimney.rtl.axi import RESP_DECERR, AxiLiteSignature

__all__ = ["AxiLiteDecoder"]


class AxiLiteDecoder(wiring.Component):
    def __init__(self, regions):
        self.regions = []
        for name, base, size in regions:
            bits = size.bit_length() - 1
            if size != 1 << bits or base % size:
                raise ValueError(f"region {name}: size {size:#x} must be a power of two dividing base {base:#x}")
            self.regions.append((name, base, size, bits))
        spans = sorted((base, base + size, name) for name, base, size, _ in self.regions)
        for (lo1, hi1, n1), (lo2, hi2, n2) in zip(spans, spans[1:]):
            if lo2 < hi1:
                raise ValueError(f"regions {n1} and {n2} overlap")
        super().__init__({"bus": In(AxiLiteSignature(32, 32)),
                          **{name: Out(AxiLiteSignature(max(bits, 2), 32)) for name, _, _, bits in self.regions}})

    def _hit(self, addr, base, size):
        """addr in [base, base + size): its bits above the region's offset equal base's."""
        bits = size.bit_length() - 1
        return addr[bits:] == base >> bits

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        subs = [(getattr(self, name), base, size) for name, base, size, _ in self.regions]
        sel = Signal(range(len(subs) + 1))          # len(subs): no region (DECERR)
        none = len(subs)

        for k, (sub, base, size) in enumerate(subs):
            m.d.comb += [sub.awaddr.eq(bus.awaddr - base), sub.araddr.eq(bus.araddr - base),
                         sub.awprot.eq(bus.awprot), sub.arprot.eq(bus.arprot),
                         sub.wdata.eq(bus.wdata), sub.wstrb.eq(bus.wstrb)]

        def route(addr):
            m.d.sync += sel.eq(none)
            for k, (_, base, size) in enumerate(subs):
                with m.If(self._hit(addr, base, size)):
                    m.d.sync += sel.eq(k)

        with m.FSM(name="decoder"):
            with m.State("IDLE"):
                with m.If(bus.awvalid):
                    route(bus.awaddr)
                    m.next = "WRITE"
                with m.Elif(bus.arvalid):
                    route(bus.araddr)
                    m.next = "READ"
            with m.State("WRITE"):
                aw_done, w_done = Signal(), Signal()
                for k, (sub, _, _) in enumerate(subs):
                    with m.If(sel == k):
                        m.d.comb += [sub.awvalid.eq(bus.awvalid & ~aw_done), bus.awready.eq(sub.awready & ~aw_done),
                                     sub.wvalid.eq(bus.wvalid & ~w_done), bus.wready.eq(sub.wready & ~w_done),
                                     bus.bvalid.eq(sub.bvalid), bus.bresp.eq(sub.bresp), sub.bready.eq(bus.bready)]
                with m.If(sel == none):                 # DECERR once both AW and W are taken
                    m.d.comb += [bus.awready.eq(~aw_done), bus.wready.eq(~w_done),
                                 bus.bvalid.eq(aw_done & w_done), bus.bresp.eq(RESP_DECERR)]
                with m.If(bus.awvalid & bus.awready):
                    m.d.sync += aw_done.eq(1)
                with m.If(bus.wvalid & bus.wready):
                    m.d.sync += w_done.eq(1)
                with m.If(bus.bvalid & bus.bready):
                    m.d.sync += [aw_done.eq(0), w_done.eq(0)]
                    m.next = "IDLE"
            with m.State("READ"):
                ar_done = Signal()
                for k, (sub, _, _) in enumerate(subs):
                    with m.If(sel == k):
                        m.d.comb += [sub.arvalid.eq(bus.arvalid & ~ar_done), bus.arready.eq(sub.arready & ~ar_done),
                                     bus.rvalid.eq(sub.rvalid), bus.rdata.eq(sub.rdata), bus.rresp.eq(sub.rresp),
                                     sub.rready.eq(bus.rready)]
                with m.If(sel == none):
                    m.d.comb += [bus.arready.eq(~ar_done), bus.rvalid.eq(ar_done), bus.rresp.eq(RESP_DECERR)]
                with m.If(bus.arvalid & bus.arready):
                    m.d.sync += ar_done.eq(1)
                with m.If(bus.rvalid & bus.rready):
                    m.d.sync += ar_done.eq(0)
                    m.next = "IDLE"
        return m
