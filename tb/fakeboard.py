"""A board without hardware: the reference model behind the board's UARTBone framing.

`FakeBoardPort` is a pyserial-like port (write, read, flush, reset_input_buffer,
close): bytes written are parsed exactly as boards/uartbone.py parses them and served
from the board's address map (boards/map.py): the CSR window by a `RefEngine`, host
memory by its `SimpleHostMemory` (the engine's DMA target), the board registers as
boards/regs.py defines them. So the serial backend (chimney.sw.serial) and the board
self-test run end to end in plain Python: `chimney board --fake`, and the tests.
"""

from chimney.boards.map import (BOARD_BASE, BOARD_ID, BOARD_REGS, BOARD_SIZE, BOARD_VERSION, CSR_BASE,
                                HOSTMEM_BASE)
from chimney.contract import EngineParams
from chimney.sw.harness import run_sync
from chimney.sw.model import RefEngine, SimpleHostMemory


class FakeBoardPort:
    def __init__(self, params: EngineParams = EngineParams(), mem_size=64 * 1024, clk_hz=25_000_000):
        self.memory = SimpleHostMemory(mem_size)
        self.engine = RefEngine(params, self.memory)
        self.mem_size, self.clk_hz = mem_size, clk_hz
        self.csr_size = 1 << 12
        self.scratch = 0
        self.bus_errors = 0
        self._in = bytearray()
        self._out = bytearray()

    # --- the address map ---------------------------------------------------------------
    def _read(self, addr):
        if CSR_BASE <= addr < CSR_BASE + self.csr_size:
            return run_sync(self.engine.read32(addr - CSR_BASE))
        if BOARD_BASE <= addr < BOARD_BASE + BOARD_SIZE:
            values = {"ID": BOARD_ID, "VERSION": BOARD_VERSION, "IRQ": int(self.engine.irq_level()),
                      "LINK": self.bus_errors, "HOSTMEM_BASE": HOSTMEM_BASE, "HOSTMEM_SIZE": self.mem_size,
                      "CLK_HZ": self.clk_hz, "SCRATCH": self.scratch}
            for name, (offset, _, _) in BOARD_REGS.items():
                if addr - BOARD_BASE == offset:
                    return values[name]
            return 0
        if HOSTMEM_BASE <= addr < HOSTMEM_BASE + self.mem_size:
            return int.from_bytes(self.memory.data[addr - HOSTMEM_BASE:addr - HOSTMEM_BASE + 4], "little")
        self.bus_errors = min(self.bus_errors + 1, 0xFF)       # DECERR
        return 0

    def _write(self, addr, value):
        if CSR_BASE <= addr < CSR_BASE + self.csr_size:
            run_sync(self.engine.write32(addr - CSR_BASE, value))
        elif BOARD_BASE <= addr < BOARD_BASE + BOARD_SIZE:
            if addr - BOARD_BASE == BOARD_REGS["SCRATCH"][0]:
                self.scratch = value
        elif HOSTMEM_BASE <= addr < HOSTMEM_BASE + self.mem_size:
            self.memory.data[addr - HOSTMEM_BASE:addr - HOSTMEM_BASE + 4] = value.to_bytes(4, "little")
        else:
            self.bus_errors = min(self.bus_errors + 1, 0xFF)

    # --- the framing (boards/uartbone.py) -------------------------------------------------
    def _parse(self):
        while self._in:
            cmd = self._in[0]
            if cmd not in (1, 2, 3, 4):
                del self._in[0]
                continue
            if len(self._in) < 2:
                return
            n = self._in[1]
            if n == 0:
                del self._in[:2]
                continue
            need = 6 + (4 * n if cmd in (1, 3) else 0)
            if len(self._in) < need:
                return
            word = int.from_bytes(self._in[2:6], "big")
            for k in range(n):
                addr = ((word + (k if cmd in (1, 2) else 0)) & 0x3FFF_FFFF) * 4
                if cmd in (1, 3):
                    self._write(addr, int.from_bytes(self._in[6 + 4 * k:10 + 4 * k], "big"))
                else:
                    self._out += self._read(addr).to_bytes(4, "big")
            del self._in[:need]

    # --- pyserial's side -----------------------------------------------------------------
    def write(self, data):
        self._in += data
        self._parse()
        return len(data)

    def read(self, n=1):
        data, self._out = bytes(self._out[:n]), self._out[n:]
        return data

    def flush(self):
        pass

    def reset_input_buffer(self):
        self._out.clear()

    def close(self):
        pass
