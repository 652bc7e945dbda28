"""An 8N1 UART: a transmitter and a receiver with byte streams, for the board's bridge.

    UartTx(divisor)   i  In(stream.Signature(8))    bytes to send
                      tx Out(1)                     the line (idle high)
    UartRx(divisor)   rx In(1)                      the line (asynchronous: synchronised here)
                      o  Out(stream.Signature(8))   bytes received; a byte the consumer has
                                                    not taken when the next one completes is
                                                    lost and counted (`overruns`)
                      framing_errors Out(8)         stop bits seen low (saturating)

`divisor` is clock cycles per bit (25 MHz / 115200 baud: 217). A line cannot be held
back, so the receiver never waits: the bridge behind it keeps up (it takes a byte in a
cycle, and a UART byte takes 10 * divisor cycles).
"""

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

__all__ = ["UartTx", "UartRx", "divisor_for"]


def divisor_for(clk_hz, baud):
    divisor = round(clk_hz / baud)
    if divisor < 4 or abs(clk_hz / divisor - baud) / baud > 0.02:
        raise ValueError(f"{baud} baud from {clk_hz} Hz: divisor {divisor} is off by more than 2%")
    return divisor


class UartTx(wiring.Component):
    def __init__(self, divisor):
        self.divisor = divisor
        super().__init__({"i": In(stream.Signature(8)), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        shift = Signal(10)                 # stop, 8 data bits, start: sent LSB first
        bits = Signal(range(11))           # bits left in `shift`
        timer = Signal(range(self.divisor))
        m.d.comb += self.i.ready.eq(bits == 0)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [shift.eq(Cat(Const(0, 1), self.i.payload, Const(1, 1))), bits.eq(10),
                         timer.eq(0)]
        with m.Elif(bits != 0):
            m.d.sync += self.tx.eq(shift[0])
            with m.If(timer == self.divisor - 1):
                m.d.sync += [timer.eq(0), shift.eq(shift >> 1), bits.eq(bits - 1)]
            with m.Else():
                m.d.sync += timer.eq(timer + 1)
        with m.Else():
            m.d.sync += self.tx.eq(1)
        return m


class UartRx(wiring.Component):
    def __init__(self, divisor):
        self.divisor = divisor
        super().__init__({"rx": In(1, init=1), "o": Out(stream.Signature(8)),
                          "framing_errors": Out(8), "overruns": Out(8)})

    def elaborate(self, platform):
        m = Module()
        line = Signal(init=1)
        m.submodules.sync_rx = FFSynchronizer(self.rx, line, init=1)
        timer = Signal(range(self.divisor))
        bit = Signal(range(10))            # 0: start bit, 1..8: data, 9: stop
        shift = Signal(8)
        busy = Signal()

        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(~busy):
            with m.If(~line):              # a falling edge: sample each bit in its middle
                m.d.sync += [busy.eq(1), bit.eq(0), timer.eq(self.divisor // 2)]
        with m.Elif(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        with m.Else():
            m.d.sync += timer.eq(self.divisor - 1)
            with m.If(bit == 0):
                with m.If(line):           # a glitch, not a start bit
                    m.d.sync += busy.eq(0)
                with m.Else():
                    m.d.sync += bit.eq(1)
            with m.Elif(bit < 9):
                m.d.sync += [shift.eq(Cat(shift[1:], line)), bit.eq(bit + 1)]
            with m.Else():
                m.d.sync += busy.eq(0)
                with m.If(~line):
                    with m.If(self.framing_errors != 0xFF):
                        m.d.sync += self.framing_errors.eq(self.framing_errors + 1)
                with m.Else():
                    with m.If(self.o.valid & ~self.o.ready):
                        with m.If(self.overruns != 0xFF):
                            m.d.sync += self.overruns.eq(self.overruns + 1)
                    m.d.sync += [self.o.payload.eq(shift), self.o.valid.eq(1)]
        return m
