"""The board's bus behind the bridge (boards/interconnect.py, boards/regs.py,
boards/hostmem.py) in Amaranth's simulator: UARTBone commands in at the byte stream,
a DMA manager writing and reading bursts at the same time.

Random bridge reads and writes over the board registers, host memory, an unmapped
range (DECERR: counted by the bridge, read as 0) and host memory past its end
(SLVERR), interleaved with random DMA write and read bursts (some of them crossing the
end of host memory: SLVERR, nothing written, the beats in range still not written).
A Python model of the memory checks every bridge read and DMA beat; the two managers
touch disjoint halves of host memory except for reads, so the model is exact.
BOARDBUS_SEED repeats a run.
"""

import os
import random

from amaranth.hdl import Module
from amaranth.sim import Simulator

from chimney.boards.hostmem import BoardHostMemory
from chimney.boards.interconnect import AxiLiteDecoder
from chimney.boards.map import BOARD_BASE, BOARD_ID, BOARD_REGS, BOARD_SIZE, HOSTMEM_BASE, board_reg
from chimney.boards.regs import BoardRegs
from chimney.boards.uartbone import UartBone

SIZE = 4096


def _top():
    m = Module()
    m.submodules.bridge = bridge = UartBone(timeout=1000)
    m.submodules.dec = dec = AxiLiteDecoder([("board", BOARD_BASE, BOARD_SIZE), ("hostmem", HOSTMEM_BASE, SIZE)])
    m.submodules.regs = regs = BoardRegs(SIZE, 25_000_000)
    m.submodules.mem = mem = BoardHostMemory(SIZE, 64)
    from amaranth.lib import wiring
    wiring.connect(m, bridge.bus, dec.bus)
    wiring.connect(m, dec.board, regs.bus)
    wiring.connect(m, dec.hostmem, mem.lite)
    m.d.comb += regs.bus_errors.eq(bridge.bus_errors)
    return m, bridge, mem


def test_bridge_and_dma_share_the_board_bus():
    seed = int(os.environ.get("BOARDBUS_SEED", random.randrange(1 << 30)))
    print(f"seed {seed} (BOARDBUS_SEED={seed} repeats it)")
    rng = random.Random(seed)
    m, bridge, mem = _top()
    dma = mem.dma
    model = bytearray(SIZE)
    state = {"bridge_done": False, "dma_done": False, "errors": 0}

    async def send(ctx, data):
        for b in data:
            ctx.set(bridge.rx.valid, 1)
            ctx.set(bridge.rx.payload, b)
            await ctx.tick().until(bridge.rx.ready)
        ctx.set(bridge.rx.valid, 0)

    async def receive(ctx, n):
        out = []
        ctx.set(bridge.tx.ready, 1)
        for _ in range(200 * n + 200):
            *_, valid, payload = await ctx.tick().sample(bridge.tx.valid, bridge.tx.payload)
            if valid:                                   # taken at this edge (ready is high)
                out.append(payload)
                if len(out) == n:
                    break
        ctx.set(bridge.tx.ready, 0)
        assert len(out) == n, "bridge reply timed out"
        return out

    async def bridge_read(ctx, addr):
        await send(ctx, [0x02, 1, *(addr // 4).to_bytes(4, "big")])
        return int.from_bytes(bytes(await receive(ctx, 4)), "big")

    async def bridge_write(ctx, addr, value):
        await send(ctx, [0x01, 1, *(addr // 4).to_bytes(4, "big"), *value.to_bytes(4, "big")])

    async def host(ctx):
        assert await bridge_read(ctx, board_reg("ID")) == BOARD_ID
        assert await bridge_read(ctx, board_reg("HOSTMEM_SIZE")) == SIZE
        for _ in range(80):
            roll = rng.random()
            if roll < 0.15:
                v = rng.getrandbits(32)
                await bridge_write(ctx, board_reg("SCRATCH"), v)
                assert await bridge_read(ctx, board_reg("SCRATCH")) == v
            elif roll < 0.25:                           # nothing there: DECERR
                await bridge_write(ctx, 0x4000_0000 + 4 * rng.randrange(64), 1)
                assert await bridge_read(ctx, 0x4000_0000) == 0
                state["errors"] += 2
            elif roll < 0.3:                            # a register offset with no register
                assert await bridge_read(ctx, BOARD_BASE + 0x80) == 0
            else:                                       # host memory, the bridge's half
                word = rng.randrange(SIZE // 8, SIZE // 4)
                if rng.random() < 0.5:
                    v = rng.getrandbits(32)
                    await bridge_write(ctx, HOSTMEM_BASE + 4 * word, v)
                    model[4 * word:4 * word + 4] = v.to_bytes(4, "little")
                else:
                    got = await bridge_read(ctx, HOSTMEM_BASE + 4 * word)
                    assert got == int.from_bytes(model[4 * word:4 * word + 4], "little"), hex(4 * word)
        await ctx.tick().repeat(10)
        assert ctx.get(bridge.bus_errors) == state["errors"]
        state["bridge_done"] = True

    async def dma_manager(ctx):
        for _ in range(40):
            beats = rng.randrange(1, 9)
            if rng.random() < 0.15:                     # runs past the end
                start = SIZE - 8 * rng.randrange(1, beats + 1) + 8 * rng.randrange(0, 2)
            else:
                start = 8 * rng.randrange(0, SIZE // 16 - beats)
            in_range = start + 8 * beats <= SIZE
            if rng.random() < 0.5:
                data = [rng.getrandbits(64) for _ in range(beats)]
                strb = [rng.choice([0xFF, 0xFF, rng.getrandbits(8)]) for _ in range(beats)]
                ctx.set(dma.awvalid, 1)
                ctx.set(dma.awaddr, start)
                ctx.set(dma.awlen, beats - 1)
                await ctx.tick().until(dma.awready)
                ctx.set(dma.awvalid, 0)
                for k in range(beats):
                    ctx.set(dma.wvalid, 1)
                    ctx.set(dma.wdata, data[k])
                    ctx.set(dma.wstrb, strb[k])
                    ctx.set(dma.wlast, k == beats - 1)
                    await ctx.tick().until(dma.wready)
                    addr = start + 8 * k
                    if addr + 8 <= SIZE:
                        for lane in range(8):
                            if strb[k] >> lane & 1:
                                model[addr + lane] = data[k] >> 8 * lane & 0xFF
                ctx.set(dma.wvalid, 0)
                ctx.set(dma.bready, 1)
                *_, resp = await ctx.tick().sample(dma.bresp).until(dma.bvalid)
                ctx.set(dma.bready, 0)
                assert resp == (0 if in_range else 2), (start, beats, resp)
            else:
                ctx.set(dma.arvalid, 1)
                ctx.set(dma.araddr, start)
                ctx.set(dma.arlen, beats - 1)
                await ctx.tick().until(dma.arready)
                ctx.set(dma.arvalid, 0)
                for k in range(beats):
                    ctx.set(dma.rready, 1)
                    *_, data, resp, last = await ctx.tick().sample(dma.rdata, dma.rresp, dma.rlast).until(dma.rvalid)
                    addr = start + 8 * k
                    assert last == (k == beats - 1)
                    if addr + 8 <= SIZE:
                        assert resp == 0 and data == int.from_bytes(model[addr:addr + 8], "little"), (addr, hex(data))
                    else:
                        assert resp == 2 and data == 0
                ctx.set(dma.rready, 0)
            for _ in range(rng.randrange(0, 20)):
                await ctx.tick()
        state["dma_done"] = True

    async def watchdog(ctx):
        for _ in range(400_000):
            if state["bridge_done"] and state["dma_done"]:
                return
            await ctx.tick()
        raise AssertionError(f"timed out: {state}")

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(host)
    sim.add_testbench(dma_manager)
    sim.add_testbench(watchdog)
    sim.run()
