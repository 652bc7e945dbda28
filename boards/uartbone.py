"""The UART-to-bus bridge: LiteX's UARTBone framing in, AXI4-Lite manager out.

    UartBone(timeout)   rx   In(stream.Signature(8))    bytes from the host (UartRx)
                        tx   Out(stream.Signature(8))   bytes to the host (UartTx)
                        bus  Out(AxiLiteSignature(32, 32))
                        bus_errors Out(8)               SLVERR/DECERR responses (saturating)

Framing (LiteX `litex.soc.cores.uart.Stream2Wishbone`, so `litex_server --uart` and
`litex_cli` talk to it too), every field big-endian:

    write: 0x01 | 0x03, N, word address (4 bytes), N data words (4 bytes each)
    read:  0x02 | 0x04, N, word address (4 bytes)  ->  N data words (4 bytes each)

The word address is the byte address / 4. 0x01/0x02 step the address by one word per
word, 0x03/0x04 keep it (a FIFO register). N = 0 or an unknown command byte does
nothing. A write has no answer; a read answers every word, even one the bus refused
(its data as the subordinate gave it, with `bus_errors` counted: the framing has no
status). A command whose next byte does not arrive within `timeout` cycles is dropped
(LiteX: 100 ms), so a host that lost sync recovers by pausing. One bus access at a
time: each write waits for its response before the next word, each read for its data.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from chimney.rtl.axi import AxiLiteSignature

__all__ = ["UartBone", "CMD_WRITE", "CMD_READ", "CMD_WRITE_FIXED", "CMD_READ_FIXED"]

CMD_WRITE, CMD_READ, CMD_WRITE_FIXED, CMD_READ_FIXED = 0x01, 0x02, 0x03, 0x04


class UartBone(wiring.Component):
    def __init__(self, timeout=2_500_000):
        self.timeout = timeout
        super().__init__({
            "rx": In(stream.Signature(8)),
            "tx": Out(stream.Signature(8)),
            "bus": Out(AxiLiteSignature(addr_width=32, data_width=32)),
            "bus_errors": Out(8),
        })

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        cmd = Signal(8)
        length = Signal(8)
        address = Signal(30)             # word address
        data = Signal(32)
        count = Signal(2)                # bytes of the address or data word so far
        words = Signal(8)                # words done
        idle = Signal(range(self.timeout + 1))
        incr = Signal()
        is_write = Signal()

        byte = self.rx.payload
        m.d.comb += [bus.awaddr.eq(Cat(0, 0, address)), bus.araddr.eq(Cat(0, 0, address)),
                     bus.wdata.eq(data), bus.wstrb.eq(0xF), bus.awprot.eq(0), bus.arprot.eq(0)]

        def error_count(resp_valid, resp):
            with m.If(resp_valid & (resp != 0) & (self.bus_errors != 0xFF)):
                m.d.sync += self.bus_errors.eq(self.bus_errors + 1)

        def next_word(m):
            m.d.sync += [words.eq(words + 1), count.eq(0), address.eq(address + incr)]
            with m.If(words == length - 1):
                m.next = "CMD"
            with m.Elif(is_write):
                m.next = "WDATA"
            with m.Else():
                m.next = "READ"

        def receive(m):
            """`with receive(m):` the next byte of the command arrived; else count to the timeout."""
            m.d.comb += self.rx.ready.eq(1)
            with m.If(~self.rx.valid):
                m.d.sync += idle.eq(idle + 1)
                with m.If(idle == self.timeout):
                    m.next = "CMD"            # the host stopped mid-command
            return m.If(self.rx.valid)

        with m.FSM(name="bridge"):
            with m.State("CMD"):
                m.d.comb += self.rx.ready.eq(1)
                m.d.sync += [count.eq(0), words.eq(0), idle.eq(0)]
                with m.If(self.rx.valid):
                    m.d.sync += cmd.eq(byte)
                    with m.If((byte >= CMD_WRITE) & (byte <= CMD_READ_FIXED)):
                        m.next = "LEN"
            with m.State("LEN"):
                with receive(m):
                    m.d.sync += [idle.eq(0), length.eq(byte), incr.eq(cmd <= CMD_READ), is_write.eq(cmd[0])]
                    m.next = "ADDR"
                    with m.If(byte == 0):
                        m.next = "CMD"
            with m.State("ADDR"):
                with receive(m):
                    m.d.sync += [idle.eq(0), address.eq(Cat(byte, address)), count.eq(count + 1)]
                    with m.If(count == 3):
                        m.d.sync += count.eq(0)
                        m.next = "WDATA"
                        with m.If(~is_write):
                            m.next = "READ"
            with m.State("WDATA"):
                with receive(m):
                    m.d.sync += [idle.eq(0), data.eq(Cat(byte, data)), count.eq(count + 1)]
                    with m.If(count == 3):
                        m.next = "WRITE"
            with m.State("WRITE"):
                aw_done, w_done = Signal(), Signal()
                m.d.comb += [bus.awvalid.eq(~aw_done), bus.wvalid.eq(~w_done), bus.bready.eq(1)]
                with m.If(bus.awvalid & bus.awready):
                    m.d.sync += aw_done.eq(1)
                with m.If(bus.wvalid & bus.wready):
                    m.d.sync += w_done.eq(1)
                error_count(bus.bvalid, bus.bresp)
                with m.If(bus.bvalid):
                    m.d.sync += [aw_done.eq(0), w_done.eq(0)]
                    next_word(m)
            with m.State("READ"):
                m.d.comb += [bus.arvalid.eq(1)]
                with m.If(bus.arready):
                    m.next = "READ_WAIT"
            with m.State("READ_WAIT"):
                m.d.comb += bus.rready.eq(1)
                error_count(bus.rvalid, bus.rresp)
                with m.If(bus.rvalid):
                    m.d.sync += [data.eq(bus.rdata), count.eq(0)]
                    m.next = "SEND"
            with m.State("SEND"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(data.word_select(~count, 8))]
                with m.If(self.tx.ready):
                    m.d.sync += count.eq(count + 1)
                    with m.If(count == 3):
                        next_word(m)
        return m
