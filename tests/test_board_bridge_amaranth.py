"""The board's UART (boards/uart.py) and UARTBone bridge (boards/uartbone.py) in
Amaranth's simulator.

* UART: random bytes through UartTx into UartRx at several divisors arrive in order;
  a stop bit forced low is a framing error, not a byte.
* Bridge: random UARTBone commands (incrementing and fixed, reads and writes, length 0,
  unknown command bytes, a command abandoned mid-way and timed out) against a Python
  AXI4-Lite subordinate with random back-pressure and a range that answers SLVERR; the
  bus accesses and the reply bytes must be what the framing says (an oracle written
  from the LiteX host side, `litex.tools.remote.comm_uart`). BRIDGE_SEED repeats a run.
"""

import os
import random

from amaranth.hdl import Module
from amaranth.sim import Simulator

from chimney.boards.uart import UartRx, UartTx, divisor_for
from chimney.boards.uartbone import UartBone

import pytest


def _seed(name):
    seed = int(os.environ.get(name, random.randrange(1 << 30)))
    print(f"seed {seed} ({name}={seed} repeats it)")
    return seed


@pytest.mark.parametrize("divisor", [4, 7, 16])
def test_uart_loopback(divisor):
    rng = random.Random(_seed("UART_SEED"))
    m = Module()
    m.submodules.tx = tx = UartTx(divisor)
    m.submodules.rx = rx = UartRx(divisor)
    m.d.comb += rx.rx.eq(tx.tx)
    sent = [rng.getrandbits(8) for _ in range(40)]
    got = []

    async def source(ctx):
        for b in sent:
            ctx.set(tx.i.valid, 1)
            ctx.set(tx.i.payload, b)
            await ctx.tick().until(tx.i.ready)
            for _ in range(rng.choice([0, 0, 3 * divisor])):   # gaps between bytes sometimes
                ctx.set(tx.i.valid, 0)
                await ctx.tick()
        ctx.set(tx.i.valid, 0)

    async def sink(ctx):
        ctx.set(rx.o.ready, 1)
        for _ in range(40 * 14 * divisor + 100):
            await ctx.tick()
            if ctx.get(rx.o.valid):
                got.append(ctx.get(rx.o.payload))
            if len(got) == len(sent):
                break
        assert ctx.get(rx.framing_errors) == 0 and ctx.get(rx.overruns) == 0

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run()
    assert got == sent


def test_uart_framing_error():
    divisor = 8
    rx = UartRx(divisor)

    async def bench(ctx):
        async def bits(values):
            for v in values:
                ctx.set(rx.rx, v)
                await ctx.tick().repeat(divisor)
        await bits([1, 1])
        await bits([0] + [1, 0, 1, 0, 1, 0, 1, 0] + [0] + [1, 1])      # stop bit low
        assert ctx.get(rx.framing_errors) == 1 and not ctx.get(rx.o.valid)
        await bits([0] + [0, 1, 1, 0, 0, 1, 0, 1] + [1, 1])            # 0xA6, good
        assert ctx.get(rx.o.valid) and ctx.get(rx.o.payload) == 0xA6

    sim = Simulator(rx)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def test_divisor():
    assert divisor_for(25_000_000, 115_200) == 217
    with pytest.raises(ValueError):
        divisor_for(1_000_000, 300_000)


# --- the bridge -----------------------------------------------------------------------------
ERR_LO = 0x8000_0000            # byte addresses at or above this answer SLVERR


def _oracle(commands, memory):
    """What the bus must see and what the host must read back, from the framing alone."""
    accesses, reply = [], []
    for kind, *args in commands:
        if kind != "cmd":
            continue
        cmd, length, word_addr, data = args
        if cmd not in (1, 2, 3, 4) or length == 0:
            continue
        for k in range(length):
            addr = ((word_addr + (k if cmd in (1, 2) else 0)) & 0x3FFF_FFFF) * 4
            if cmd in (1, 3):
                accesses.append(("w", addr, data[k]))
                if addr < ERR_LO:
                    memory[addr] = data[k]
            else:
                value = memory.get(addr, 0) if addr < ERR_LO else 0xBAD0BAD0
                accesses.append(("r", addr))
                reply += list(value.to_bytes(4, "big"))
    return accesses, reply


def _random_commands(rng, n):
    commands = []
    for _ in range(n):
        roll = rng.random()
        if roll < 0.05:
            commands.append(("cmd", rng.choice([0, 5, 0x7F, 0xFF]), 0, 0, []))          # ignored
        elif roll < 0.1:
            commands.append(("abandon", rng.choice([1, 2]), rng.randrange(1, 5)))        # times out
        else:
            cmd = rng.choice([1, 2, 1, 2, 3, 4])
            length = rng.choice([0, 1, 1, 2, 3, 8])
            word = rng.choice([rng.randrange(16), rng.randrange(1 << 30), (ERR_LO >> 2) + rng.randrange(4)])
            commands.append(("cmd", cmd, length, word, [rng.getrandbits(32) for _ in range(length)]))
    return commands


def _bytes_of(command):
    kind, *args = command
    if kind == "abandon":
        cmd, keep = args
        return [cmd, 1, 0, 0, 0, 0][:keep]
    cmd, length, word, data = args
    if cmd not in (1, 2, 3, 4):
        return [cmd]
    out = [cmd, length]
    if length == 0:
        return out
    out += list(word.to_bytes(4, "big"))
    if cmd in (1, 3):
        for d in data:
            out += list(d.to_bytes(4, "big"))
    return out


def test_bridge_against_the_framing():
    seed = _seed("BRIDGE_SEED")
    rng = random.Random(seed)
    timeout = 60
    dut = UartBone(timeout=timeout)
    bus = dut.bus
    commands = _random_commands(rng, 120)
    expected_accesses, expected_reply = _oracle(commands, {})
    accesses, reply, memory = [], [], {}
    done = {"host": False}

    async def host(ctx):
        for c in commands:
            for b in _bytes_of(c):
                ctx.set(dut.rx.valid, 1)
                ctx.set(dut.rx.payload, b)
                await ctx.tick().until(dut.rx.ready)
                ctx.set(dut.rx.valid, 0)
                for _ in range(rng.choice([0, 0, 0, 2])):
                    await ctx.tick()
            if c[0] == "abandon":
                await ctx.tick().repeat(timeout + 5)     # let the bridge give up
            else:                                         # wait for the bridge to finish
                await ctx.tick().repeat(2)
                for _ in range(4000):
                    if len(accesses) >= len(_oracle(commands[:commands.index(c) + 1], {})[0]) \
                            and not ctx.get(dut.tx.valid):
                        break
                    await ctx.tick()
        await ctx.tick().repeat(50)
        done["host"] = True

    async def reader(ctx):
        while not done["host"]:
            ready = rng.random() < 0.6
            ctx.set(dut.tx.ready, ready)
            await ctx.delay(1e-9)
            if ready and ctx.get(dut.tx.valid):
                reply.append(ctx.get(dut.tx.payload))
            await ctx.tick()

    async def subordinate(ctx):
        pending_aw = pending_w = pending_r = None
        b_out = r_out = None
        while not done["host"]:
            ctx.set(bus.awready, pending_aw is None and rng.random() < 0.5)
            ctx.set(bus.wready, pending_w is None and rng.random() < 0.5)
            ctx.set(bus.arready, pending_r is None and r_out is None and rng.random() < 0.5)
            ctx.set(bus.bvalid, b_out is not None)
            ctx.set(bus.bresp, b_out or 0)
            ctx.set(bus.rvalid, r_out is not None)
            ctx.set(bus.rdata, r_out[0] if r_out else 0)
            ctx.set(bus.rresp, r_out[1] if r_out else 0)
            await ctx.delay(1e-9)
            if ctx.get(bus.awvalid) and ctx.get(bus.awready):
                pending_aw = ctx.get(bus.awaddr)
            if ctx.get(bus.wvalid) and ctx.get(bus.wready):
                assert ctx.get(bus.wstrb) == 0xF
                pending_w = ctx.get(bus.wdata)
            if b_out is not None and ctx.get(bus.bready):
                b_out = None
            if r_out is not None and ctx.get(bus.rready):
                r_out = None
            if ctx.get(bus.arvalid) and ctx.get(bus.arready):
                pending_r = ctx.get(bus.araddr)
            await ctx.tick()
            if pending_aw is not None and pending_w is not None and b_out is None:
                accesses.append(("w", pending_aw, pending_w))
                if pending_aw < ERR_LO:
                    memory[pending_aw] = pending_w
                b_out = 0 if pending_aw < ERR_LO else 2
                pending_aw = pending_w = None
            if pending_r is not None and r_out is None:
                accesses.append(("r", pending_r))
                r_out = (memory.get(pending_r, 0), 0) if pending_r < ERR_LO else (0xBAD0BAD0, 2)
                pending_r = None

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(host)
    sim.add_testbench(reader)
    sim.add_testbench(subordinate)
    sim.run()
    assert accesses == expected_accesses, f"seed {seed}"
    assert reply == expected_reply, f"seed {seed}"
    errors = sum(1 for a in expected_accesses if a[1] >= ERR_LO)
    assert errors > 0
