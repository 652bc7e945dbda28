"""The driver on a board: a register window and a host-memory pool over a serial port.

The board design (chimney.boards, docs/board.md) puts the engine's CSR window, its
host memory and a few board registers behind a UART bridge with LiteX's UARTBone
framing. `UartBoneLink` speaks that framing over anything pyserial opens
(`/dev/ttyUSB0`, `socket://HOST:PORT` for the simulated board, `loop://`); on it:

* `SerialDevice`: `chimney.sw.bus.Device`, the CSR window at `map.CSR_BASE`; the
  interrupt is the board's IRQ register, polled (a UART has no interrupt wire);
* `SerialHostMemory`: `chimney.sw.bus.HostMemory`, the board's block RAM at
  `map.HOSTMEM_BASE`: DMA address A is bridge address HOSTMEM_BASE + A. Bytes are
  moved as 32-bit words (little-endian, as the engine sees them); a write that does
  not cover whole words reads the words it touches first.

Every coroutine completes without suspending (the serial I/O blocks), so the driver
runs under `asyncio.run` or `chimney.sw.harness.run_sync`. Timeouts are wall-clock:
`wait_irq(timeout_ns)` polls for at least that long (and at least once).
"""

import time

from chimney.boards.map import BOARD_ID, CSR_BASE, HOSTMEM_BASE, board_reg

from .bus import BumpAllocator, DeviceTimeout, Region

CMD_WRITE, CMD_READ = 0x01, 0x02
MAX_WORDS = 255                       # words per command (one length byte)


class UartBoneLink:
    """Word reads and writes at byte addresses (multiples of 4) over a pyserial port."""

    def __init__(self, port, timeout_s=5.0):
        self.port = port
        self.timeout_s = timeout_s
        self.words_moved = 0

    @classmethod
    def open(cls, url, baud=115_200, timeout_s=5.0):
        import serial
        return cls(serial.serial_for_url(url, baudrate=baud, timeout=timeout_s), timeout_s)

    def close(self):
        self.port.close()

    def _read_exact(self, n):
        data = b""
        deadline = time.monotonic() + self.timeout_s
        while len(data) < n:
            chunk = self.port.read(n - len(data))
            if chunk:
                data += chunk
            elif time.monotonic() > deadline:
                raise DeviceTimeout(f"serial link: {len(data)} of {n} bytes within {self.timeout_s} s")
        return data

    def read(self, addr, count=1):
        if addr % 4:
            raise ValueError(f"unaligned bridge address {addr:#x}")
        words = []
        while count:
            n = min(count, MAX_WORDS)
            self.port.write(bytes([CMD_READ, n]) + (addr // 4).to_bytes(4, "big"))
            data = self._read_exact(4 * n)
            words += [int.from_bytes(data[4 * k:4 * k + 4], "big") for k in range(n)]
            addr, count = addr + 4 * n, count - n
        self.words_moved += len(words)
        return words

    def write(self, addr, words):
        if addr % 4:
            raise ValueError(f"unaligned bridge address {addr:#x}")
        words = list(words)
        while words:
            chunk, words = words[:MAX_WORDS], words[MAX_WORDS:]
            self.port.write(bytes([CMD_WRITE, len(chunk)]) + (addr // 4).to_bytes(4, "big")
                            + b"".join(w.to_bytes(4, "big") for w in chunk))
            self.words_moved += len(chunk)
            addr += 4 * len(chunk)
        self.port.flush()

    def board(self, name):
        return self.read(board_reg(name))[0]


class SerialDevice:
    """The engine's register window on the board (chimney.sw.bus.Device)."""

    def __init__(self, link: UartBoneLink, poll_s=0.0):
        self.link = link
        self.poll_s = poll_s

    async def read32(self, offset):
        return self.link.read(CSR_BASE + offset)[0]

    async def write32(self, offset, value):
        self.link.write(CSR_BASE + offset, [value & 0xFFFF_FFFF])

    def irq_level(self):
        return bool(self.link.board("IRQ") & 1)

    async def wait_irq(self, timeout_ns):
        deadline = time.monotonic() + timeout_ns / 1e9
        while True:
            if self.irq_level():
                return
            if time.monotonic() >= deadline:
                raise DeviceTimeout(f"no interrupt within {timeout_ns} ns")
            if self.poll_s:
                time.sleep(self.poll_s)


class SerialHostMemory:
    """The board's host memory (chimney.sw.bus.HostMemory); 0 .. 4 KiB is never handed out."""

    def __init__(self, link: UartBoneLink, size):
        self.link = link
        self.size = size
        self.alloc_ = BumpAllocator(0x1000, size - 0x1000)

    def alloc(self, size, align=64) -> Region:
        return self.alloc_.alloc(size, align)

    def free(self, region):
        self.alloc_.free(region)

    def _check(self, addr, length):
        if addr < 0 or addr + length > self.size:
            raise ValueError(f"[{addr:#x}, {addr + length:#x}) is outside the board's {self.size} bytes")

    def read(self, addr, length):
        self._check(addr, length)
        if length == 0:
            return b""
        lo, hi = addr & ~3, (addr + length + 3) & ~3
        words = self.link.read(HOSTMEM_BASE + lo, (hi - lo) // 4)
        data = b"".join(w.to_bytes(4, "little") for w in words)
        return data[addr - lo:addr - lo + length]

    def write(self, addr, data):
        data = bytes(data)
        self._check(addr, len(data))
        if not data:
            return
        lo, hi = addr & ~3, (addr + len(data) + 3) & ~3
        if lo != addr or hi != addr + len(data):      # partial words: read them first
            old = self.read(lo, hi - lo)
            data = old[:addr - lo] + data + old[addr - lo + len(data):]
        self.link.write(HOSTMEM_BASE + lo, [int.from_bytes(data[k:k + 4], "little") for k in range(0, len(data), 4)])


def connect(url, baud=115_200, timeout_s=5.0, resync_s=0.2):
    """Open the board at `url`; check it is a chimney board. Returns (link, device, memory, info).
    `resync_s`: a pause first, so that a command an earlier host left half sent times out
    in the bridge (100 ms on the board), and stale input is dropped."""
    link = UartBoneLink.open(url, baud, timeout_s)
    try:
        time.sleep(resync_s)
        link.port.reset_input_buffer()
        ident = link.board("ID")
        if ident != BOARD_ID:
            raise DeviceTimeout(f"{url}: board ID reads {ident:#x}, not {BOARD_ID:#x}: not a chimney board?")
        info = {name: link.board(name) for name in ("VERSION", "HOSTMEM_SIZE", "CLK_HZ")}
    except Exception:
        link.close()
        raise
    return link, SerialDevice(link), SerialHostMemory(link, info["HOSTMEM_SIZE"]), info
