"""The board design without the board: the engine, its host memory and the UART bridge
behind three pins. `boards/platform.py` puts it on an amaranth-boards platform; the
cocotb board test simulates it as generated Verilog.

    BoardCore(params, mem_size, clk_hz, baud, reset_buffer)   (reset_buffer: rtl/top.py RESET_BUFFERS)
        uart_rx  In(1)    from the host's serial port (idle high)
        uart_tx  Out(1)   to the host's serial port
        irq      Out(1)   the engine's interrupt (the board shows it on an LED)

    UartRx -> UartBone -> AxiLiteDecoder -+-> engine CSR window  (map.CSR_BASE)
    UartTx <-'                            +-> BoardRegs          (map.BOARD_BASE)
                                          +-> BoardHostMemory.lite (map.HOSTMEM_BASE)
    ChimneyEngine.dma ------------------------> BoardHostMemory.dma  (DMA address 0..size)
"""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from chimney.contract import EngineParams
from chimney.rtl.top import ChimneyEngine

from .hostmem import BoardHostMemory
from .interconnect import AxiLiteDecoder
from .map import BOARD_BASE, BOARD_SIZE, CSR_BASE, HOSTMEM_BASE
from .regs import BoardRegs
from .uart import UartRx, UartTx, divisor_for
from .uartbone import UartBone

__all__ = ["BoardCore"]


class BoardCore(wiring.Component):
    def __init__(self, params: EngineParams = EngineParams(), *, mem_size=64 * 1024, clk_hz=25_000_000,
                 baud=115_200, bridge_timeout_s=0.1, reset_buffer="fabric"):
        if params.data_width != 64:
            raise ValueError("the board's host memory is 64 bits wide: data_width must be 64")
        self.params, self.mem_size, self.clk_hz, self.baud = params, mem_size, clk_hz, baud
        self.divisor = divisor_for(clk_hz, baud)
        self.engine = ChimneyEngine(params, reset_buffer=reset_buffer)
        self.bridge_timeout = max(1, int(bridge_timeout_s * clk_hz))
        super().__init__({"uart_rx": In(1, init=1), "uart_tx": Out(1, init=1), "irq": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.engine = engine = self.engine
        m.submodules.uart_rx = rx = UartRx(self.divisor)
        m.submodules.uart_tx = tx = UartTx(self.divisor)
        m.submodules.bridge = bridge = UartBone(self.bridge_timeout)
        csr_size = 1 << len(engine.csr.awaddr)
        m.submodules.decoder = dec = AxiLiteDecoder([("csr", CSR_BASE, csr_size), ("board", BOARD_BASE, BOARD_SIZE),
                                                     ("hostmem", HOSTMEM_BASE, self.mem_size)])
        m.submodules.board_regs = regs = BoardRegs(self.mem_size, self.clk_hz)
        m.submodules.hostmem = mem = BoardHostMemory(self.mem_size, self.params.addr_width)

        m.d.comb += [rx.rx.eq(self.uart_rx), self.uart_tx.eq(tx.tx)]
        wiring.connect(m, rx.o, bridge.rx)
        wiring.connect(m, bridge.tx, tx.i)
        wiring.connect(m, bridge.bus, dec.bus)
        wiring.connect(m, dec.csr, engine.csr)
        wiring.connect(m, dec.board, regs.bus)
        wiring.connect(m, dec.hostmem, mem.lite)
        wiring.connect(m, engine.dma, mem.dma)
        m.d.comb += [self.irq.eq(engine.irq), regs.irq.eq(engine.irq), regs.bus_errors.eq(bridge.bus_errors),
                     regs.framing_errors.eq(rx.framing_errors), regs.overruns.eq(rx.overruns)]
        return m
