"""cocotb: the whole board design (boards/core.py: bridge, interconnect, host memory,
engine) behind its UART pins, served to a host program over a TCP socket.

CHIMNEY_BOARD = {"port_file": PATH, "max_cycles": N}: the test listens on a free
localhost port and writes its number to `port_file`; a host program (the pytest test
runs `chimney board --port socket://127.0.0.1:PORT` in a thread) connects, and every
byte it sends is driven onto `uart_rx` as an 8N1 frame; every frame seen on `uart_tx`
is sent back to it. The test ends when the host closes the connection, and fails after
`max_cycles` or on a framing error seen on `uart_tx`.
"""

import json
import os
import socket
from collections import deque

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, Event, FallingEdge

from chimney.tb.simbuild import BOARD_SIM

DIVISOR = BOARD_SIM["clk_hz"] // BOARD_SIM["baud"]


async def drive_uart(dut, line, to_board, stop):
    """Bytes from the host onto the board's receive pin, one 8N1 frame each."""
    line.value = 1
    while not stop.is_set():
        if not to_board:
            await ClockCycles(dut.clk, DIVISOR)
            continue
        byte = to_board.popleft()
        for bit in [0, *((byte >> k) & 1 for k in range(8)), 1]:
            line.value = bit
            await ClockCycles(dut.clk, DIVISOR)


async def watch_uart(dut, line, to_host, errors):
    """Frames on the board's transmit pin, sampled in the middle of each bit."""
    while True:
        await FallingEdge(line)
        await ClockCycles(dut.clk, DIVISOR // 2)
        if int(line.value):
            continue                    # a glitch
        byte = 0
        for k in range(8):
            await ClockCycles(dut.clk, DIVISOR)
            byte |= int(line.value) << k
        await ClockCycles(dut.clk, DIVISOR)
        if not int(line.value):
            errors.append(f"stop bit low after {byte:#04x}")
        to_host.append(byte)


@cocotb.test()
async def board(dut):
    cfg = json.loads(os.environ["CHIMNEY_BOARD"])
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.uart_rx.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.clk, 5)
    dut.rst.value = 0

    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.setblocking(False)
    with open(cfg["port_file"] + ".tmp", "w") as f:
        f.write(str(server.getsockname()[1]))
    os.replace(cfg["port_file"] + ".tmp", cfg["port_file"])

    to_board, to_host, errors = deque(), deque(), []
    stop = Event()
    cocotb.start_soon(drive_uart(dut, dut.uart_rx, to_board, stop))
    cocotb.start_soon(watch_uart(dut, dut.uart_tx, to_host, errors))
    conn = None
    cycles, step = 0, 10 * DIVISOR       # the socket is looked at once a byte time
    moved = {"in": 0, "out": 0}
    try:
        while True:
            await ClockCycles(dut.clk, step)
            cycles += step
            assert cycles < cfg["max_cycles"], f"no end after {cycles} cycles ({moved})"
            assert not errors, errors
            if conn is None:
                try:
                    conn, _ = server.accept()
                    conn.setblocking(False)
                except BlockingIOError:
                    continue
            if to_host:
                data = bytes(to_host)
                to_host.clear()
                conn.sendall(data)
                moved["out"] += len(data)
            try:
                data = conn.recv(65536)
            except BlockingIOError:
                continue
            if not data:                 # the host closed the connection: done
                break
            to_board.extend(data)
            moved["in"] += len(data)
    finally:
        stop.set()
        if conn is not None:
            conn.close()
        server.close()
    dut._log.info(f"board: {moved['in']} bytes in, {moved['out']} out, {cycles} cycles")
