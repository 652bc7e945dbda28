"""The driver's serial transport (sw/serial.py) and the board self-test (chimney/board.py)
over the fake board (tb/fakeboard.py: the reference model behind the same UARTBone
framing as boards/uartbone.py). No simulator: a few seconds.

The framing itself is checked against the RTL bridge in test_board_bridge_amaranth.py
(the same oracle); here: words and bytes land where the map says, unaligned writes keep
their neighbours, long transfers split at 255 words, and the self-test passes, and
fails when the injected fault does not reach the host stack.
"""

import asyncio
import os
import random

import pytest

from chimney.boards.map import BOARD_ID, HOSTMEM_BASE, board_reg
from chimney.contract import EngineParams
from chimney.sw.bus import DeviceTimeout
from chimney.sw.regs import Registers
from chimney.sw.serial import SerialDevice, SerialHostMemory, UartBoneLink
from chimney.tb.fakeboard import FakeBoardPort


class CountingPort(FakeBoardPort):
    """Counts the commands it parses, and their lengths."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.lengths = []

    def write(self, data):
        if len(data) >= 2 and data[0] in (1, 2):
            self.lengths.append(data[1])
        return super().write(data)


def test_link_reads_the_board_registers():
    link = UartBoneLink(FakeBoardPort())
    assert link.board("ID") == BOARD_ID
    link.write(board_reg("SCRATCH"), [0x1234_5678])
    assert link.board("SCRATCH") == 0x1234_5678
    assert link.read(0x4000_0000) == [0] and link.board("LINK") & 0xFF == 1      # DECERR, counted
    with pytest.raises(ValueError):
        link.read(3)


def test_host_memory_bytes_and_splits():
    seed = int(os.environ.get("SERIAL_SEED", random.randrange(1 << 30)))
    print(f"seed {seed} (SERIAL_SEED={seed} repeats it)")
    rng = random.Random(seed)
    port = CountingPort(mem_size=16 * 1024)
    link = UartBoneLink(port)
    mem = SerialHostMemory(link, 16 * 1024)
    oracle = bytearray(16 * 1024)
    for _ in range(300):
        addr = rng.randrange(0, 16 * 1024 - 64)
        if rng.random() < 0.5:
            data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 40)))
            mem.write(addr, data)
            oracle[addr:addr + len(data)] = data
        else:
            n = rng.randrange(0, 40)
            assert mem.read(addr, n) == bytes(oracle[addr:addr + n])
    assert bytes(port.memory.data) == bytes(oracle)                  # where the engine's DMA sees it
    port.lengths.clear()
    big = bytes(rng.getrandbits(8) for _ in range(4 * 600))
    mem.write(0x1000, big)
    assert mem.read(0x1000, len(big)) == big
    assert port.lengths == [255, 255, 90, 255, 255, 90]
    with pytest.raises(ValueError):
        mem.read(16 * 1024 - 2, 4)
    assert link.read(HOSTMEM_BASE + 0x1000)[0] == int.from_bytes(big[:4], "little")


def test_device_waits_for_the_interrupt_with_a_deadline():
    dev = SerialDevice(UartBoneLink(FakeBoardPort()))
    assert not dev.irq_level()
    with pytest.raises(DeviceTimeout):
        asyncio.run(dev.wait_irq(2_000_000))                         # 2 ms of polling, no interrupt


def test_self_test_passes_over_the_serial_backend():
    from chimney.board import main
    assert main(["--fake"]) == 0


def test_self_test_fails_when_the_fault_is_not_injected(monkeypatch):
    """A board whose ERRINJ does nothing: the model's host stack sees the failure
    sequence, the board's does not; the self-test must say FAILED."""
    from chimney.board import self_test
    port = FakeBoardPort()
    real = port.engine.write32
    errinj = Registers(port.engine, EngineParams()).offset("ERRINJ_CTRL")

    async def no_errinj(offset, value):
        if offset == errinj:
            return
        return await real(offset, value)
    port.engine.write32 = no_errinj
    link = UartBoneLink(port)
    report = asyncio.run(self_test(SerialDevice(link), SerialHostMemory(link, 64 * 1024), EngineParams(),
                                   say=lambda *_: None))
    assert not report["passed"] and not report["failure_sequence_ok"] and report["scoreboard_mismatches"]


def test_self_test_fails_when_the_bus_refused_an_access(monkeypatch, capsys):
    """A read the bus refuses still answers a word (UARTBone has no status); the
    self-test reads the board's LINK counters before and after and fails when they
    moved, even though everything else matched."""
    import chimney.board as board
    real = board.self_test

    async def one_stray_read(device, memory, *args, **kwargs):
        report = await real(device, memory, *args, **kwargs)
        device.link.read(0x4000_0000)                 # unmapped: DECERR, counted in LINK
        return report
    monkeypatch.setattr(board, "self_test", one_stray_read)
    assert board.main(["--fake"]) == 1
    out = capsys.readouterr().out
    assert "link errors during the self-test: {'bus': 1, 'framing': 0, 'overrun': 0}" in out and "FAILED" in out
