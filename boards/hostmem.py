"""The board's host memory: block RAM that the engine's DMA master and the UART bridge
both reach.

    BoardHostMemory(size, addr_width)
        dma   In(AxiSignature(addr_width, 64))   the engine: INCR bursts of 8-byte beats
        lite  In(AxiLiteSignature(bits, 32))     the bridge: 32-bit words, byte strobes

One RAM of size / 8 words of 64 bits (byte write enables), one read and one write port,
so one transaction at a time: the DMA first, then the bridge. A write burst takes a beat
a cycle; a read takes two cycles a beat (address, then data held until RREADY), which
is far above what the board's UART can ask for. An access at or past `size` (any beat
of a burst) is answered SLVERR and changes nothing; such a read beat gives 0. DMA
address 0 is the RAM's first byte, as the driver's host-memory pool hands it out.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from chimney.rtl.axi import RESP_OKAY, RESP_SLVERR, AxiLiteSignature, AxiSignature

__all__ = ["BoardHostMemory"]


class BoardHostMemory(wiring.Component):
    def __init__(self, size=64 * 1024, addr_width=64, id_width=1):
        if size & (size - 1) or size < 64:
            raise ValueError("size must be a power of two of at least 64 bytes")
        self.size = size
        self.lite_bits = size.bit_length() - 1
        super().__init__({"dma": In(AxiSignature(addr_width, 64, id_width)),
                          "lite": In(AxiLiteSignature(self.lite_bits, 32))})

    def elaborate(self, platform):
        m = Module()
        dma, lite = self.dma, self.lite
        words = self.size // 8
        m.submodules.ram = ram = Memory(shape=64, depth=words, init=[])
        wr = ram.write_port(granularity=8)
        rd = ram.read_port(transparent_for=())
        word_bits = words.bit_length() - 1

        addr = Signal(64)               # byte address of the current beat
        beats = Signal(8)               # beats left after this one (AxLEN)
        bid = Signal.like(dma.awid)
        failed = Signal()               # a beat of this burst was out of range
        lite_lane = Signal()            # which half of the 64-bit word a bridge access is
        in_range = Signal()
        m.d.comb += [in_range.eq(addr < self.size), wr.addr.eq(addr[3:3 + word_bits]),
                     rd.addr.eq(addr[3:3 + word_bits])]

        with m.FSM(name="hostmem"):
            with m.State("IDLE"):
                with m.If(dma.awvalid):
                    m.d.comb += dma.awready.eq(1)
                    m.d.sync += [addr.eq(dma.awaddr), beats.eq(dma.awlen), bid.eq(dma.awid), failed.eq(0)]
                    m.next = "DMA_W"
                with m.Elif(dma.arvalid):
                    m.d.comb += dma.arready.eq(1)
                    m.d.sync += [addr.eq(dma.araddr), beats.eq(dma.arlen), bid.eq(dma.arid), failed.eq(0)]
                    m.next = "DMA_R"
                with m.Elif(lite.awvalid & lite.wvalid):
                    m.d.comb += [lite.awready.eq(1), lite.wready.eq(1)]
                    a = lite.awaddr
                    m.d.sync += [addr.eq(a), failed.eq(0)]
                    m.next = "LITE_B"
                    # the write itself, now: the address is in range by construction
                    m.d.comb += [wr.addr.eq(a[3:3 + word_bits]),
                                 wr.data.eq(Cat(lite.wdata, lite.wdata)),
                                 wr.en.eq(Cat(lite.wstrb & ~a[2].replicate(4), lite.wstrb & a[2].replicate(4)))]
                with m.Elif(lite.arvalid):
                    m.d.comb += [lite.arready.eq(1), rd.addr.eq(lite.araddr[3:3 + word_bits])]
                    m.d.sync += [lite_lane.eq(lite.araddr[2]), addr.eq(lite.araddr)]   # held for the data
                    m.next = "LITE_R"
            with m.State("DMA_W"):
                m.d.comb += dma.wready.eq(1)
                with m.If(dma.wvalid):
                    with m.If(in_range):
                        m.d.comb += [wr.data.eq(dma.wdata), wr.en.eq(dma.wstrb)]
                    with m.Else():
                        m.d.sync += failed.eq(1)
                    m.d.sync += [addr.eq(addr + 8), beats.eq(beats - 1)]
                    with m.If(dma.wlast):
                        m.next = "DMA_B"
            with m.State("DMA_B"):
                m.d.comb += [dma.bvalid.eq(1), dma.bid.eq(bid), dma.bresp.eq(failed.replicate(2) & RESP_SLVERR)]
                with m.If(dma.bready):
                    m.next = "IDLE"
            with m.State("DMA_R"):           # the read port takes the address this cycle
                m.next = "DMA_R_DATA"
            with m.State("DMA_R_DATA"):
                m.d.comb += [dma.rvalid.eq(1), dma.rid.eq(bid), dma.rlast.eq(beats == 0),
                             dma.rdata.eq(in_range.replicate(64) & rd.data),
                             dma.rresp.eq(Cat(0, ~in_range))]
                with m.If(dma.rready):
                    m.d.sync += [addr.eq(addr + 8), beats.eq(beats - 1)]
                    m.next = "IDLE"
                    with m.If(beats != 0):
                        m.next = "DMA_R"
            with m.State("LITE_B"):
                m.d.comb += [lite.bvalid.eq(1), lite.bresp.eq(RESP_OKAY)]
                with m.If(lite.bready):
                    m.next = "IDLE"
            with m.State("LITE_R"):
                m.d.comb += [lite.rvalid.eq(1), lite.rresp.eq(RESP_OKAY),
                             lite.rdata.eq(rd.data.word_select(lite_lane, 32))]
                with m.If(lite.rready):
                    m.next = "IDLE"
        return m
