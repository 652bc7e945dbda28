# amaranth: UnusedElaboratable=no
"""ECC building blocks in Amaranth's simulator: SECDED and CRC expressions against the
contract, EccMemory (mirror, transparency, latency, scrub-back, injection) and EccReporter.

Random tests use a fixed seed, printed; override with CHIMNEY_SEED=<int>.
"""

import os
import random
from itertools import combinations

import pytest
from amaranth.back import verilog
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from chimney.contract import MEMORIES
from chimney.contract import ecc as contract
from chimney.contract.ecc import EccStatus
from chimney.rtl.crc import CRC_INIT, CRC_XOROUT, CrcAccumulator, crc32c_step
from chimney.rtl.ecc import ecc_check_bits, ecc_correct, ecc_decode, ecc_encode, ecc_syndrome
from chimney.rtl.ecc_status import EccReporter, UeKind, connect_source
from chimney.rtl.eccmem import EccMemory, flip, peek, poke

PERIOD = 1e-8
DEFAULT_SEED = 20240611
M64 = (1 << 64) - 1


@pytest.fixture
def rng(request):
    seed = int(os.environ.get("CHIMNEY_SEED", DEFAULT_SEED))
    print(f"seed {seed} (override with CHIMNEY_SEED=<int>)")
    return random.Random(f"{seed}:{request.node.name}")


def run(dut, bench, *, max_cycles=20000, clock=True):
    """Run one testbench; a background watchdog fails the test after max_cycles."""
    sim = Simulator(dut)
    if clock:
        sim.add_clock(PERIOD)

        async def watchdog(ctx):
            for _ in range(max_cycles):
                await ctx.tick()
            raise AssertionError(f"testbench still running after {max_cycles} cycles")
        sim.add_testbench(watchdog, background=True)
    sim.add_testbench(bench)
    sim.run()


def encode(data):
    return contract.ecc_encode(data)


# --- SECDED and CRC expressions against the contract ----------------------------------
class EccFunctions(wiring.Component):
    data: In(64)
    code: In(72)
    check: Out(8)
    enc: Out(72)
    syn: Out(8)
    dec_data: Out(64)
    ce: Out(1)
    ue: Out(1)
    corr_code: Out(72)
    corr_ce: Out(1)
    corr_ue: Out(1)

    def elaborate(self, platform):
        m = Module()
        syn = Signal(8)                  # a Signal, so the simulator evaluates the XOR trees once
        m.d.comb += syn.eq(ecc_syndrome(self.code))
        dec_data, ce, ue = ecc_decode(self.code, syn)
        corr, corr_ce, corr_ue = ecc_correct(self.code, syn)
        m.d.comb += [
            self.check.eq(ecc_check_bits(self.data)), self.enc.eq(ecc_encode(self.data)),
            self.syn.eq(syn), self.dec_data.eq(dec_data), self.ce.eq(ce), self.ue.eq(ue),
            self.corr_code.eq(corr), self.corr_ce.eq(corr_ce), self.corr_ue.eq(corr_ue),
        ]
        return m


def test_secded_matches_contract(rng):
    dut = EccFunctions()
    words = [0, M64, 0x5555555555555555, 0xAAAAAAAAAAAAAAAA] + [rng.getrandbits(64) for _ in range(200)]
    codes = []                                      # (codeword, number of flips)
    for j in range(72):                             # every single-bit position, two words each
        for w in (words[4 + j % 50], words[5 + j % 50]):
            codes.append((encode(w) ^ 1 << j, 1))
    for _ in range(300):
        codes.append((encode(rng.getrandbits(64)) ^ sum(1 << b for b in rng.sample(range(72), 2)), 2))
    for _ in range(300):
        codes.append((encode(rng.getrandbits(64)) ^ sum(1 << b for b in rng.sample(range(72), 3)), 3))
    codes += [(s << 64, None) for s in range(256)]   # every syndrome value (data 0, check bits = s)
    counts = {}

    async def bench(ctx):
        for w in words:
            ctx.set(dut.data, w)
            ctx.set(dut.code, encode(w))
            assert ctx.get(dut.check) == contract.ecc_check_bits(w)
            assert ctx.get(dut.enc) == encode(w), hex(w)
            assert (ctx.get(dut.syn), ctx.get(dut.ce), ctx.get(dut.ue), ctx.get(dut.dec_data)) == (0, 0, 0, w)
        for code, flips in codes:
            ctx.set(dut.code, code)
            data, status, syn = contract.ecc_decode(code)
            got = (ctx.get(dut.dec_data), ctx.get(dut.ce), ctx.get(dut.ue), ctx.get(dut.syn))
            want = (data, int(status == EccStatus.CORRECTED), int(status == EccStatus.UNCORRECTABLE),
                    contract.ecc_syndrome(code))
            assert got == want, f"code {code:#x}: rtl {got} contract {want}"
            assert (ctx.get(dut.corr_ce), ctx.get(dut.corr_ue)) == want[1:3]
            if status == EccStatus.CORRECTED:
                assert contract.ecc_syndrome(ctx.get(dut.corr_code)) == 0
            else:
                assert ctx.get(dut.corr_code) == code
            if flips == 1:
                assert status == EccStatus.CORRECTED
                assert ctx.get(dut.corr_code) == encode(data)
            elif flips == 2:
                assert status == EccStatus.UNCORRECTABLE
            elif flips == 3:
                assert status != EccStatus.OK
            counts[status] = counts.get(status, 0) + 1

    run(dut, bench, clock=False)
    print("decode outcomes:", {s.name: n for s, n in counts.items()})
    assert counts[EccStatus.CORRECTED] >= 144 and counts[EccStatus.UNCORRECTABLE] >= 300


class CrcFunction(wiring.Component):
    state: In(32)
    word: In(64)
    nxt: Out(32)

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.nxt.eq(crc32c_step(self.state, self.word))
        return m


def test_crc_step_matches_contract(rng):
    dut = CrcFunction()
    cases = [(CRC_INIT, 0), (0, 0), (0xFFFFFFFF, M64)]
    cases += [(1 << i, 0) for i in range(32)] + [(0, 1 << j) for j in range(64)]
    cases += [(rng.getrandbits(32), rng.getrandbits(64)) for _ in range(200)]

    async def bench(ctx):
        for state, word in cases:
            ctx.set(dut.state, state)
            ctx.set(dut.word, word)
            assert ctx.get(dut.nxt) == contract.crc_step(state, word), (hex(state), hex(word))

    run(dut, bench, clock=False)
    assert (CRC_INIT, CRC_XOROUT) == (contract.CRC_INIT, contract.CRC_XOROUT)


def test_crc_accumulator_row(rng):
    dut = CrcAccumulator()
    rows = [([rng.getrandbits(64) for _ in range(10)], rng.getrandbits(32)) for _ in range(3)]
    rows.append(([0] * 10, 0))

    async def bench(ctx):
        assert ctx.get(dut.raw) == CRC_INIT
        for n, (words, handle) in enumerate(rows):
            stream = words + [handle]
            for i, w in enumerate(stream):
                # first row: plain clear cycle first; later rows: clear+step together
                if i == 0 and n == 0:
                    ctx.set(dut.clear, 1)
                    await ctx.tick()
                ctx.set(dut.clear, int(i == 0 and n > 0))
                ctx.set(dut.step, 1)
                ctx.set(dut.word, w)
                await ctx.tick()
                if rng.random() < 0.3:               # idle cycles hold the state
                    ctx.set(dut.step, 0)
                    ctx.set(dut.clear, 0)
                    await ctx.tick().repeat(2)
            ctx.set(dut.step, 0)
            ctx.set(dut.clear, 0)
            await ctx.tick()
            assert ctx.get(dut.crc) == contract.row_crc(words, handle), n
        ctx.set(dut.clear, 1)
        await ctx.tick()
        assert ctx.get(dut.raw) == CRC_INIT

    run(dut, bench, max_cycles=500)


# --- EccMemory ---------------------------------------------------------------------------
OUTS = ("rd_valid", "rd_data", "rd_ce", "rd_ue", "rd_syndrome", "rd_addr_out", "inj_done",
        "ev_ce", "ev_ue", "ev_addr", "ev_syndrome", "ev_guard", "busy_scrub")


async def step(ctx, dut, rd=None, wr=None):
    """One clock cycle: drive a read (addr) and/or a write ((addr, data)); return this cycle's outputs."""
    ctx.set(dut.rd_en, rd is not None)
    if rd is not None:
        ctx.set(dut.rd_addr, rd)
    ctx.set(dut.wr_en, wr is not None)
    if wr is not None:
        ctx.set(dut.wr_addr, wr[0])
        ctx.set(dut.wr_data, wr[1])
    out = {name: ctx.get(getattr(dut, name)) for name in OUTS}
    await ctx.tick()
    return out


async def read(ctx, dut, addr, writes=None):
    """A lone read; `writes` maps a cycle offset (0 = the read's cycle) to a client write.
    Returns the outputs of its rd_valid cycle, checked to be exactly LATENCY cycles later."""
    writes = writes or {}
    outs = [await step(ctx, dut, rd=addr, wr=writes.get(0))]
    for k in range(1, dut.LATENCY + 1):
        outs.append(await step(ctx, dut, wr=writes.get(k)))
    assert [o["rd_valid"] for o in outs] == [0] * dut.LATENCY + [1]
    out = outs[-1]
    assert out["rd_addr_out"] == addr
    return out


async def idle(ctx, dut, cycles):
    outs = []
    for _ in range(cycles):
        outs.append(await step(ctx, dut))
    return outs


async def fill(ctx, dut, words):
    for a, w in enumerate(words):
        await step(ctx, dut, wr=(a, w))


def random_mirror_bench(dut, rng, cycles, depth):
    """Random reads/writes every cycle against a dict mirror; same-address read+write is frequent."""
    mirror = {a: 0 for a in range(depth)}
    stats = {"reads": 0, "writes": 0, "same_cycle_same_addr": 0, "back_to_back": 0}

    async def bench(ctx):
        pending = [None] * dut.LATENCY          # expected (addr, data) per past cycle, oldest first
        for cycle in range(cycles):
            burst = rng.random() < 0.5
            rd = rng.randrange(depth) if burst or rng.random() < 0.5 else None
            wr = None
            if rng.random() < 0.4:
                wa = rd if rd is not None and rng.random() < 0.3 else rng.randrange(depth)
                wr = (wa, rng.getrandbits(64))
            out = await step(ctx, dut, rd=rd, wr=wr)
            want = pending.pop(0)
            assert out["rd_valid"] == (want is not None), f"cycle {cycle}: rd_valid"
            if want is not None:
                assert (out["rd_addr_out"], out["rd_data"]) == want, f"cycle {cycle}: {out} want {want}"
                assert (out["rd_ce"], out["rd_ue"], out["ev_ce"], out["ev_ue"]) == (0, 0, 0, 0)
                assert out["rd_syndrome"] == 0
            if wr is not None:                   # the read in this cycle sees this write
                mirror[wr[0]] = wr[1]
                stats["writes"] += 1
            if rd is not None:
                stats["reads"] += 1
                stats["same_cycle_same_addr"] += wr is not None and wr[0] == rd
                stats["back_to_back"] += pending[-1] is not None
            pending.append(None if rd is None else (rd, mirror[rd]))
        await idle(ctx, dut, dut.LATENCY)
        for a in range(depth):                   # the stored words are clean codewords
            want = encode(mirror[a]) if dut.ecc else mirror[a]
            assert peek(ctx, dut, a) == want, a

    return bench, stats


LATENCY = pytest.mark.parametrize("latency", [2, 3, 4, 5], ids=["lat2", "lat3", "lat4", "lat5"])


def test_eccmem_latency_attribute():
    assert EccMemory.LATENCY == 2
    with pytest.raises(ValueError):
        EccMemory(8, latency=1)


@LATENCY
@pytest.mark.parametrize("ecc", [True, False], ids=["ecc", "plain"])
def test_eccmem_random_mirror(rng, ecc, latency):
    depth = 16
    dut = EccMemory(depth, ecc=ecc, latency=latency)
    assert dut.LATENCY == latency
    bench, stats = random_mirror_bench(dut, rng, 3000, depth)
    run(dut, bench)
    print(stats)
    assert stats["same_cycle_same_addr"] > 50 and stats["back_to_back"] > 500


# --- banks (a depth multiplexer after the bank flops) -----------------------------------
def test_eccmem_banks_layout_and_back_door():
    dut = EccMemory(18, latency=3, bank_depth=4)
    assert dut.bank_names() == [("mem0", 0, 4), ("mem1", 4, 4), ("mem2", 8, 4), ("mem3", 12, 4), ("mem4", 16, 2)]
    assert [m.depth for _, m in dut.banks] == [4, 4, 4, 4, 2]
    assert dut.bank_of(17) == (dut.banks[4][1], 1) and dut.bank_of(4) == (dut.banks[1][1], 0)
    with pytest.raises(IndexError):
        dut.bank_of(18)
    text = verilog.convert(dut, name="m")
    for sub, _, depth in dut.bank_names():
        assert f"reg [71:0] {sub} [{depth - 1}:0]" in text, sub
    assert "(* no_rw_check" in text
    assert EccMemory(2048).bank_names() == [("mem", 0, 2048)]      # one bank: the array keeps its name
    assert len(EccMemory(10240).banks) == 5

    async def bench(ctx):
        poke(ctx, dut, 17, 0x1234)              # word addresses reach the right bank and row
        assert ctx.get(dut.banks[4][1].data[1]) == 0x1234 and peek(ctx, dut, 17) == 0x1234
        assert ctx.get(dut.memory.data[17]) == 0x1234          # the word-addressed view
        assert await flip(ctx, dut, 17, 0b11) == 0x1237 and peek(ctx, dut, 16) == 0

    run(dut, bench)


@pytest.mark.parametrize("latency", [2, 3, 4, 5], ids=["lat2", "lat3", "lat4", "lat5"])
@pytest.mark.parametrize("ecc,guard_in", [(True, None), (False, None), (True, 7)], ids=["ecc", "plain", "guard"])
def test_eccmem_banked_random_mirror(rng, latency, ecc, guard_in):
    """Random reads and writes over five banks (the last one short), the same-address
    read+write of one cycle and reads right after a write included."""
    depth = 18
    dut = EccMemory(depth, ecc=ecc, latency=latency, bank_depth=4, guard_in=guard_in)
    assert len(dut.banks) == 5
    if guard_in is None:
        bench, stats = random_mirror_bench(dut, rng, 2500, depth)
        run(dut, bench)
        print(stats)
        assert stats["same_cycle_same_addr"] > 30 and stats["back_to_back"] > 400
    else:
        _run_guarded_mirror(dut, rng, depth)


def _run_guarded_mirror(dut, rng, depth):
    code = dut.code
    mirror = {a: 0 for a in range(depth)}

    async def bench(ctx):
        pending = [None] * dut.LATENCY
        for cycle in range(2500):
            rd = rng.randrange(depth) if rng.random() < 0.7 else None
            wr = None
            if rng.random() < 0.4:
                wa = rd if rd is not None and rng.random() < 0.3 else rng.randrange(depth)
                wr = (wa, rng.getrandbits(code.payload_bits))
            out = await step(ctx, dut, rd=rd, wr=wr)
            want = pending.pop(0)
            assert out["rd_valid"] == (want is not None), cycle
            if want is not None:
                assert (out["rd_addr_out"], out["rd_data"], out["rd_ce"], out["rd_ue"]) == (*want, 0, 0), cycle
            if wr is not None:
                mirror[wr[0]] = wr[1]
            pending.append(None if rd is None else (rd, mirror[rd]))
        await idle(ctx, dut, dut.LATENCY)
        for a in range(depth):
            assert peek(ctx, dut, a) == code.encode(mirror[a]), a

    run(dut, bench)


@pytest.mark.parametrize("latency", [3, 4, 5], ids=["lat3", "lat4", "lat5"])
def test_eccmem_banked_single_bit_corrected_and_scrubbed(rng, latency):
    depth = 20
    dut = EccMemory(depth, latency=latency, bank_depth=8)       # banks of 8, 8 and 4 words

    async def bench(ctx):
        words = [rng.getrandbits(64) for _ in range(depth)]
        await fill(ctx, dut, words)
        for n in range(60):
            a = rng.randrange(depth)
            bit = rng.randrange(72)
            await flip(ctx, dut, a, 1 << bit)
            out = await read(ctx, dut, a)
            assert (out["rd_ce"], out["rd_ue"], out["rd_data"]) == (1, 0, words[a]), (a, bit)
            await idle(ctx, dut, 3)
            assert peek(ctx, dut, a) == encode(words[a]), f"word {a}: not scrubbed back"

    run(dut, bench)


def test_eccmem_back_door_sees_the_write_register(rng):
    """A word written in the last cycle is still in the write register (its bank gets it
    at the next edge): peek returns it, and a flip then lands in the word, not under it."""
    dut = EccMemory(8, latency=4)

    async def bench(ctx):
        w = rng.getrandbits(64)
        await step(ctx, dut, wr=(3, w))
        assert ctx.get(dut.wq_en) and ctx.get(dut.wq_addr) == 3
        assert ctx.get(dut.memory.data[3]) == 0, "the bank already has the word: no write register"
        assert peek(ctx, dut, 3) == encode(w)
        await flip(ctx, dut, 3, 1 << 5)
        out = await read(ctx, dut, 3)
        assert (out["rd_ce"], out["rd_data"]) == (1, w), "the flip was lost under the pending write"

    run(dut, bench)


def test_eccmem_stage_registers():
    assert EccMemory(16, latency=2).stage_registers() == ()
    assert EccMemory(16, latency=3).stage_registers() == ("syn",)
    assert EccMemory(10240, latency=4).stage_registers() == ("mux", "syn")
    assert EccMemory(1024, latency=4).stage_registers() == ("syn", "fix")          # one bank
    assert EccMemory(4096, latency=4, guard_in=1).stage_registers() == ("syn", "fix")
    assert EccMemory(10240, latency=5).stage_registers() == ("mux", "syn", "fix")
    with pytest.raises(ValueError):
        EccMemory(16, latency=6)
    with pytest.raises(ValueError):
        EccMemory(16, bank_depth=3)


@LATENCY
def test_eccmem_single_bit_corrected_and_scrubbed(rng, latency):
    depth = 32
    dut = EccMemory(depth, latency=latency)

    async def bench(ctx):
        words = [rng.getrandbits(64) for _ in range(depth)]
        await fill(ctx, dut, words)
        for bit in range(72):                    # every position, including check bits
            a = rng.randrange(depth)
            await flip(ctx, dut, a, 1 << bit)
            out = await read(ctx, dut, a)
            assert (out["rd_ce"], out["rd_ue"], out["rd_data"]) == (1, 0, words[a]), bit
            assert out["rd_syndrome"] == contract.H_COLUMNS[bit]
            assert (out["ev_ce"], out["ev_ue"], out["ev_addr"], out["ev_syndrome"]) == \
                (1, 0, a, contract.H_COLUMNS[bit])
            after = await idle(ctx, dut, 3)      # corrected word staged, buffered, written
            assert [o["busy_scrub"] for o in after] == [1, 1, 0]
            assert all(o["ev_ce"] == 0 for o in after)
            assert peek(ctx, dut, a) == encode(words[a]), f"bit {bit}: not scrubbed back"
            out = await read(ctx, dut, a)
            assert (out["rd_ce"], out["rd_ue"], out["rd_data"]) == (0, 0, words[a])

    run(dut, bench)


@LATENCY
def test_eccmem_double_and_triple(rng, latency):
    depth = 16
    dut = EccMemory(depth, latency=latency)
    seen = {"ce": 0, "ue": 0}

    async def bench(ctx):
        words = [rng.getrandbits(64) for _ in range(depth)]
        await fill(ctx, dut, words)
        for n in range(120):
            a = rng.randrange(depth)
            mask = sum(1 << b for b in rng.sample(range(72), 2))
            bad = await flip(ctx, dut, a, mask)
            out = await read(ctx, dut, a)
            assert (out["rd_ce"], out["rd_ue"], out["ev_ue"], out["ev_addr"]) == (0, 1, 1, a), hex(mask)
            assert out["rd_syndrome"] == contract.ecc_syndrome(bad)
            assert all(o["busy_scrub"] == 0 for o in await idle(ctx, dut, 3))
            assert peek(ctx, dut, a) == bad, "a double error must not be written back"
            await step(ctx, dut, wr=(a, words[a]))          # repair for the next round
        for n in range(120):
            a = rng.randrange(depth)
            bad = await flip(ctx, dut, a, sum(1 << b for b in rng.sample(range(72), 3)))
            out = await read(ctx, dut, a)
            data, status, syn = contract.ecc_decode(bad)
            assert out["rd_ce"] or out["rd_ue"], "a triple error was reported clean"
            assert (out["rd_data"], out["rd_ce"], out["rd_ue"], out["rd_syndrome"]) == \
                (data, int(status == EccStatus.CORRECTED), int(status == EccStatus.UNCORRECTABLE), syn)
            seen["ce" if out["rd_ce"] else "ue"] += 1
            await idle(ctx, dut, 3)
            await step(ctx, dut, wr=(a, words[a]))

    run(dut, bench)
    print("triple flips reported as", seen)


@LATENCY
def test_eccmem_scrub_back_cancelled_by_client_write(rng, latency):
    dut = EccMemory(16, latency=latency)
    L = latency

    async def bench(ctx):
        old, other = rng.getrandbits(64), rng.getrandbits(64)
        await fill(ctx, dut, [old] * 16)
        # (1) the client keeps the port busy for `busy` cycles after the CE, then writes
        # the corrected address: the pending scrub-back (staged or buffered) is dropped
        for busy in range(3):
            new = rng.getrandbits(64)
            await flip(ctx, dut, 3, 1 << rng.randrange(72))
            out = await read(ctx, dut, 3, writes={L: (9, other)})
            assert out["rd_ce"] == 1
            outs = [await step(ctx, dut, wr=(9, other)) for _ in range(busy)]
            outs.append(await step(ctx, dut, wr=(3, new)))
            assert all(o["busy_scrub"] for o in outs)
            outs = await idle(ctx, dut, 3)
            assert all(o["busy_scrub"] == 0 for o in outs), busy
            assert peek(ctx, dut, 3) == encode(new), f"busy {busy}: scrub-back overwrote a newer client write"
            assert peek(ctx, dut, 9) == encode(other)
        # (2) the client writes the address while the read is in flight (every stage)
        for delay in range(1, L + 1):
            await flip(ctx, dut, 5, 1 << rng.randrange(72))
            newer = rng.getrandbits(64)
            out = await read(ctx, dut, 5, writes={delay: (5, newer)})
            assert out["rd_ce"] == 1 and out["rd_data"] == old
            outs = await idle(ctx, dut, 3)
            assert all(o["busy_scrub"] == 0 for o in outs), f"delay {delay}: stale scrub-back queued"
            assert peek(ctx, dut, 5) == encode(newer), f"delay {delay}"
            await step(ctx, dut, wr=(5, old))
        # (3) a write in the read's own cycle is seen by the read (transparent): no error, no scrub
        await flip(ctx, dut, 6, 1 << rng.randrange(72))
        new = rng.getrandbits(64)
        out = await read(ctx, dut, 6, writes={0: (6, new)})
        assert (out["rd_data"], out["rd_ce"]) == (new, 0)

    run(dut, bench)


@LATENCY
def test_eccmem_scrub_buffer_full_drops_second(rng, latency):
    dut = EccMemory(16, latency=latency)

    async def bench(ctx):
        words = [rng.getrandbits(64) for _ in range(16)]
        await fill(ctx, dut, words)
        await flip(ctx, dut, 1, 1 << 7)
        await flip(ctx, dut, 2, 1 << 70)
        # back-to-back reads while the client keeps writing elsewhere: the buffer cannot drain
        busy = (10, words[10])
        outs = [await step(ctx, dut, rd=1, wr=busy), await step(ctx, dut, rd=2, wr=busy)]
        outs += [await step(ctx, dut, wr=busy) for _ in range(latency + 1)]
        got = [(o["rd_valid"], o["rd_ce"], o["ev_addr"]) for o in outs[latency:latency + 2]]
        assert got == [(1, 1, 1), (1, 1, 2)], got
        assert outs[latency + 1]["rd_data"] == words[2]
        await idle(ctx, dut, 3)
        assert peek(ctx, dut, 1) == encode(words[1])
        assert peek(ctx, dut, 2) == encode(words[2]) ^ 1 << 70, "second CE should have been dropped"
        out = await read(ctx, dut, 2)                    # found again later, scrubbed then
        assert out["rd_ce"] == 1
        await idle(ctx, dut, 2)
        assert peek(ctx, dut, 2) == encode(words[2])

    run(dut, bench)


@LATENCY
def test_eccmem_streaming_errors(rng, latency):
    """Back-to-back reads over clean, single- and double-error words, every result exact,
    while the client writes elsewhere every cycle (so only the first CE is buffered)."""
    depth = 16
    dut = EccMemory(depth, latency=latency)

    async def bench(ctx):
        words = [rng.getrandbits(64) for _ in range(depth)]
        await fill(ctx, dut, words)
        masks = {a: 0 for a in range(depth - 1)}
        for a in rng.sample(range(depth - 1), 10):
            masks[a] = sum(1 << b for b in rng.sample(range(72), rng.choice([1, 2])))
            await flip(ctx, dut, a, masks[a])
        dummy = (depth - 1, words[depth - 1])              # the client's busy writes
        pending = [None] * latency
        first_ce = None
        for cycle in range(300):                          # the last reads finish while still busy
            a = rng.randrange(depth - 1) if rng.random() < 0.9 and cycle < 300 - latency - 2 else None
            out = await step(ctx, dut, rd=a, wr=dummy)
            want = pending.pop(0)
            pending.append(a)
            assert out["rd_valid"] == (want is not None), cycle
            if want is None:
                continue
            data, status, syn = contract.ecc_decode(encode(words[want]) ^ masks[want])
            got = (out["rd_addr_out"], out["rd_data"], out["rd_ce"], out["rd_ue"], out["rd_syndrome"])
            assert got == (want, data, int(status == EccStatus.CORRECTED),
                           int(status == EccStatus.UNCORRECTABLE), syn), f"cycle {cycle}"
            if status == EccStatus.CORRECTED and first_ce is None:
                first_ce = want
        await idle(ctx, dut, latency + 3)
        assert first_ce is not None
        for a in range(depth - 1):                         # only the first CE was written back
            want = encode(words[a]) ^ (0 if a == first_ce else masks[a])
            assert peek(ctx, dut, a) == want, a

    run(dut, bench)


@LATENCY
def test_eccmem_scrub_buffer_refills_while_draining(rng, latency):
    """Three CEs in consecutive reads with an idle client: each enters the buffer as the
    previous one drains, so all three are written back."""
    dut = EccMemory(16, latency=latency)

    async def bench(ctx):
        words = [rng.getrandbits(64) for _ in range(16)]
        await fill(ctx, dut, words)
        for a in (4, 5, 6):
            await flip(ctx, dut, a, 1 << rng.randrange(72))
        outs = [await step(ctx, dut, rd=a) for a in (4, 5, 6)]
        outs += await idle(ctx, dut, latency + 5)
        assert [o["rd_ce"] for o in outs[latency:latency + 3]] == [1, 1, 1]
        assert outs[-1]["busy_scrub"] == 0
        for a in (4, 5, 6):
            assert peek(ctx, dut, a) == encode(words[a]), a

    run(dut, bench)


@LATENCY
def test_eccmem_injection(rng, latency):
    dut = EccMemory(16, latency=latency)

    async def bench(ctx):
        w1, w2, w3 = (rng.getrandbits(64) for _ in range(3))
        mask = 1 << rng.randrange(64) | 1 << rng.randrange(64, 72)   # a double error
        ctx.set(dut.inj_mask, mask)
        ctx.set(dut.inj_arm, 1)
        outs = await idle(ctx, dut, 3)                     # armed but no write: nothing happens
        assert all(o["inj_done"] == 0 for o in outs)
        outs = [await step(ctx, dut, wr=(1, w1)), await step(ctx, dut, wr=(2, w2))]
        assert [o["inj_done"] for o in outs] == [1, 0], "injection must hit exactly one write"
        outs += await idle(ctx, dut, 3)                    # owner clears ARM late: still once
        assert sum(o["inj_done"] for o in outs) == 1
        assert peek(ctx, dut, 1) == encode(w1) ^ mask
        assert peek(ctx, dut, 2) == encode(w2)
        out = await read(ctx, dut, 1)
        assert (out["rd_ue"], out["ev_ue"]) == (1, 1)
        ctx.set(dut.inj_arm, 0)
        await idle(ctx, dut, 1)
        # a scrub-back write while armed does not consume the injection
        await flip(ctx, dut, 4, 1 << 5)
        out = await read(ctx, dut, 4)
        assert out["rd_ce"] == 1
        ctx.set(dut.inj_mask, 1 << 9)
        ctx.set(dut.inj_arm, 1)
        outs = await idle(ctx, dut, 3)                     # the scrub-back drains here
        assert [o["busy_scrub"] for o in outs] == [1, 1, 0] and all(o["inj_done"] == 0 for o in outs)
        assert peek(ctx, dut, 4) == encode(0)
        out = await step(ctx, dut, wr=(8, w3))
        assert out["inj_done"] == 1
        ctx.set(dut.inj_arm, 0)
        await idle(ctx, dut, 1)
        assert peek(ctx, dut, 8) == encode(w3) ^ 1 << 9
        out = await read(ctx, dut, 8)
        assert (out["rd_ce"], out["rd_data"]) == (1, w3)

    run(dut, bench)


@LATENCY
def test_eccmem_plain_ram(rng, latency):
    dut = EccMemory(16, ecc=False, latency=latency)

    async def bench(ctx):
        words = [rng.getrandbits(64) for _ in range(16)]
        await fill(ctx, dut, words)
        await flip(ctx, dut, 3, 1 << 17)                   # no ECC: the flip is returned as is
        out = await read(ctx, dut, 3)
        assert (out["rd_data"], out["rd_ce"], out["rd_ue"], out["rd_syndrome"]) == (words[3] ^ 1 << 17, 0, 0, 0)
        assert (out["ev_ce"], out["ev_ue"], out["busy_scrub"]) == (0, 0, 0)
        ctx.set(dut.inj_mask, 1 << 2 | 1 << 71)            # check-bit part ignored
        ctx.set(dut.inj_arm, 1)
        out = await step(ctx, dut, wr=(4, words[4]))
        assert out["inj_done"] == 1
        ctx.set(dut.inj_arm, 0)
        await idle(ctx, dut, 1)
        assert peek(ctx, dut, 4) == words[4] ^ 1 << 2
        poke(ctx, dut, 5, 0x1234)
        assert (await read(ctx, dut, 5))["rd_data"] == 0x1234

    run(dut, bench)


def test_eccmem_verilog():
    for latency in (2, 3, 4, 5):
        text = verilog.convert(EccMemory(64, latency=latency), name="m")
        assert "reg [71:0] mem [63:0]" in text
    text = verilog.convert(EccMemory(16, ecc=False), name="m")
    assert "reg [63:0] mem [15:0]" in text
    assert "module" in verilog.convert(EccReporter(len(MEMORIES)), name="r")
    assert "module" in verilog.convert(CrcAccumulator(), name="c")


# --- EccReporter -----------------------------------------------------------------------
class RefReporter:
    """Python model of EccReporter's registers (without the two register stages' delay)."""

    def __init__(self, n, count_bits):
        self.n = n
        self.top = (1 << count_bits) - 1
        self.clear()

    def clear(self):
        self.ce_count = self.ue_count = 0
        self.last_ce = (0, 0, 0, 0)                 # valid, mem, addr, syndrome
        self.last_ue = (0, 0, 0, 0, 0)              # valid, mem, addr, syndrome, kind

    def step(self, ev):
        if ev["clear"]:
            self.clear()
        ces = [i for i in range(self.n) if ev["ce"][i]]
        ues = [i for i in range(self.n) if ev["ue"][i]]
        self.ce_count = min(self.top, self.ce_count + len(ces))
        self.ue_count = min(self.top, self.ue_count + len(ues) + ev["crc_fail"])
        if ces:
            i = ces[0]
            self.last_ce = (1, i, ev["addr"][i], ev["syn"][i])
        if ev["crc_fail"] and (not ues or ev["crc_mem"] < ues[0]):
            self.last_ue = (1, ev["crc_mem"], ev["crc_addr"], 0, UeKind.CRC)
        elif ues:
            i = ues[0]
            self.last_ue = (1, i, ev["addr"][i], ev["syn"][i], UeKind.SECDED)

    def outputs(self):
        return (self.ce_count, self.ue_count, self.last_ce, self.last_ue)


def quiet(n):
    return {"ce": [0] * n, "ue": [0] * n, "addr": [0] * n, "syn": [0] * n,
            "crc_fail": 0, "crc_mem": 0, "crc_addr": 0, "clear": 0}


def drive(ctx, dut, ev):
    for i, src in enumerate(dut.sources):
        ctx.set(src.ce, ev["ce"][i])
        ctx.set(src.ue, ev["ue"][i])
        ctx.set(src.addr, ev["addr"][i])
        ctx.set(src.syndrome, ev["syn"][i])
    for k in ("crc_fail", "crc_mem", "crc_addr", "clear"):
        ctx.set(getattr(dut, k), ev[k])


def observe(ctx, dut):
    g = lambda name: ctx.get(getattr(dut, name))
    return (g("ce_count"), g("ue_count"),
            (g("last_ce_valid"), g("last_ce_mem"), g("last_ce_addr"), g("last_ce_syndrome")),
            (g("last_ue_valid"), g("last_ue_mem"), g("last_ue_addr"), g("last_ue_syndrome"), g("last_ue_kind")))


async def reporter_cycle(ctx, dut, ev):
    """Drive one cycle of events, then quiet cycles until the outputs reflect it (three edges)."""
    drive(ctx, dut, ev)
    await ctx.tick()
    drive(ctx, dut, quiet(dut.n_sources))
    events = (ctx.get(dut.ce_event), ctx.get(dut.ue_event))
    await ctx.tick()
    await ctx.tick()
    return events, observe(ctx, dut)


def test_reporter_random_against_model(rng):
    n = len(MEMORIES)
    dut = EccReporter(n, count_bits=6)              # small counters: saturation is reached
    ref = RefReporter(n, 6)

    async def bench(ctx):
        history = [ref.outputs()] * 3
        saturated = False
        for cycle in range(1500):
            ev = quiet(n)
            if rng.random() < 0.6:
                for i in rng.sample(range(n), rng.choice([1, 1, 2, 3, n])):
                    ev["ce" if rng.random() < 0.6 else "ue"][i] = 1
                    ev["addr"][i] = rng.getrandbits(24)
                    ev["syn"][i] = rng.getrandbits(8)
            if rng.random() < 0.15:
                ev.update(crc_fail=1, crc_mem=rng.randrange(n), crc_addr=rng.getrandbits(24))
            ev["clear"] = int(rng.random() < 0.01)
            drive(ctx, dut, ev)
            got = observe(ctx, dut)
            assert got == history[-3], f"cycle {cycle}: rtl {got} model {history[-3]}"
            ce_any, ue_any = any(ev["ce"]), any(ev["ue"]) or ev["crc_fail"]
            await ctx.tick()
            assert (ctx.get(dut.ce_event), ctx.get(dut.ue_event)) == (ce_any, ue_any), cycle
            ref.step(ev)
            history.append(ref.outputs())
            saturated |= ref.ce_count == ref.top
        assert saturated

    run(dut, bench)


def test_reporter_directed():
    n = 4
    dut = EccReporter(n, addr_bits=24, count_bits=4)

    async def bench(ctx):
        ev = quiet(n)
        ev["ce"][2] = ev["ce"][1] = 1
        ev["addr"] = [0, 0x11, 0x22, 0]
        ev["syn"] = [0, 0x07, 0x0B, 0]
        (ce_e, ue_e), out = await reporter_cycle(ctx, dut, ev)
        assert (ce_e, ue_e) == (1, 0)
        assert out == (2, 0, (1, 1, 0x11, 0x07), (0, 0, 0, 0, 0)), out   # both counted, lowest id kept
        ev = quiet(n)                                  # CRC failure with a lower id than the SECDED UE
        ev["ue"][3] = 1
        ev["addr"][3], ev["syn"][3] = 0x33, 0x03
        ev.update(crc_fail=1, crc_mem=2, crc_addr=0xABCDEF)
        (ce_e, ue_e), out = await reporter_cycle(ctx, dut, ev)
        assert (ce_e, ue_e) == (0, 1)
        assert out[1] == 2 and out[3] == (1, 2, 0xABCDEF, 0, UeKind.CRC), out
        ev["ue"] = [1, 0, 0, 0]                        # SECDED UE with the lower id wins
        ev["addr"][0], ev["syn"][0] = 0x44, 0x0F
        _, out = await reporter_cycle(ctx, dut, ev)
        assert out[1] == 4 and out[3] == (1, 0, 0x44, 0x0F, UeKind.SECDED), out
        ev = quiet(n)                                  # saturation at 15 (count_bits=4)
        ev["ce"] = [1] * n
        for _ in range(5):
            _, out = await reporter_cycle(ctx, dut, ev)
        assert out[0] == 15
        ev = quiet(n)                                  # clear
        ev["clear"] = 1
        _, out = await reporter_cycle(ctx, dut, ev)
        assert out == (0, 0, (0, 0, 0, 0), (0, 0, 0, 0, 0)), out
        ev["ce"][3], ev["addr"][3] = 1, 0x99           # an event in the clear cycle is kept
        _, out = await reporter_cycle(ctx, dut, ev)
        assert out[0] == 1 and out[2] == (1, 3, 0x99, 0), out

    run(dut, bench, max_cycles=200)


def test_memory_to_reporter(rng):
    """An EccMemory's ev_* feed the reporter: a single and a double flip are counted."""
    class Pair(wiring.Component):
        def __init__(self):
            self.mem = EccMemory(16)
            self.rep = EccReporter(len(MEMORIES))
            super().__init__({})

        def elaborate(self, platform):
            m = Module()
            m.submodules.mem = self.mem
            m.submodules.rep = self.rep
            connect_source(m, self.rep, 7, self.mem)
            return m

    top = Pair()
    dut, rep = top.mem, top.rep

    async def bench(ctx):
        for a in range(16):
            await step(ctx, dut, wr=(a, a * 0x0101010101010101))
        await flip(ctx, dut, 5, 1 << 40)
        await flip(ctx, dut, 9, 0b11)
        await read(ctx, dut, 5)
        await read(ctx, dut, 9)
        await idle(ctx, dut, 3)
        assert (ctx.get(rep.ce_count), ctx.get(rep.ue_count)) == (1, 1)
        assert (ctx.get(rep.last_ce_mem), ctx.get(rep.last_ce_addr), ctx.get(rep.last_ce_syndrome)) == \
            (7, 5, contract.H_COLUMNS[40])
        assert (ctx.get(rep.last_ue_mem), ctx.get(rep.last_ue_addr), ctx.get(rep.last_ue_kind)) == \
            (7, 9, UeKind.SECDED)

    run(top, bench)


# --- the guard (meta words and pool entries) ------------------------------------------
# every latency with the default TCP meta split, the other splits at the default latency
GUARD_CASES = pytest.mark.parametrize("guard_in,latency", [(7, 2), (7, 3), (7, 4), (7, 5), (0, 3), (1, 3), (16, 3),
                                                          (1, 4)],
                                      ids=["in7-lat2", "in7-lat3", "in7-lat4", "in7-lat5", "in0-lat3", "in1-lat3",
                                           "in16-lat3", "in1-lat4"])


@GUARD_CASES
def test_eccmem_guard_against_contract(rng, latency, guard_in):
    """A guarded memory decodes every damaged word exactly as `WordCode.decode`: single
    flips anywhere (the bits beside the 72 included) corrected and scrubbed back; 2 to 8
    flips and whole random words detected unless they land on or next to another
    codeword; guard bits read as zero; `ev_guard` marks what SECDED alone would take."""
    code = contract.WordCode(guard_in)
    depth = 16
    dut = EccMemory(depth, latency=latency, guard_in=guard_in)
    assert dut.width == code.width
    seen = {}

    async def bench(ctx):
        words = [rng.getrandbits(code.payload_bits) for _ in range(depth)]
        await fill(ctx, dut, words)
        for a, w in enumerate(words):
            assert peek(ctx, dut, a) == code.encode(w), "stored word differs from the contract's"
        for n in range(96):
            a = rng.randrange(depth)
            kind = ("single", "multi", "word")[n % 3]
            if kind == "word":
                bad = rng.getrandbits(code.width)
                poke(ctx, dut, a, bad)
            else:
                k = 1 if kind == "single" else rng.randint(2, 8)
                bad = await flip(ctx, dut, a, sum(1 << b for b in rng.sample(range(code.width), k)))
            data, status, syn, ue_kind, fixed = code.decode(bad)
            out = await read(ctx, dut, a)
            got = (out["rd_data"], out["rd_ce"], out["rd_ue"], out["rd_syndrome"], out["ev_guard"])
            want = (data, int(status == EccStatus.CORRECTED), int(status == EccStatus.UNCORRECTABLE), syn,
                    int(ue_kind == contract.UeKind.GUARD))
            assert got == want, (kind, hex(bad))
            if kind == "single":
                assert status == EccStatus.CORRECTED and data == words[a]
            elif kind == "multi" and bin(bad ^ code.encode(words[a])).count("1") <= 4:
                assert status == EccStatus.UNCORRECTABLE, "an error of 2 to 4 bits must be detected"
            await idle(ctx, dut, 3)
            if status == EccStatus.CORRECTED:
                assert peek(ctx, dut, a) == fixed, "corrected word not scrubbed back"
            seen[(kind, status.name, ue_kind.name)] = seen.get((kind, status.name, ue_kind.name), 0) + 1
            await step(ctx, dut, wr=(a, words[a]))

    run(dut, bench)
    print("outcomes", seen)
    assert seen.get(("multi", "UNCORRECTABLE", "GUARD"), 0) + seen.get(("word", "UNCORRECTABLE", "GUARD"), 0) > 0, \
        "no damage SECDED alone would have taken: the test did not exercise the guard"


def test_guard_catches_what_secded_miscorrects(rng):
    """Triple flips that SECDED alone 'corrects' into another word: the guarded memory
    reports every one uncorrectable (kind GUARD), for each split the default build uses."""
    from chimney.contract import EngineParams, MEMORIES, guard_split
    for name in [n for n, _, k in MEMORIES if k in ("meta", "pool")]:
        code = contract.WordCode(guard_split(EngineParams(), name)[0])
        hits = 0
        while hits < 50:
            w = code.encode(rng.getrandbits(code.payload_bits))
            mask = sum(1 << b for b in rng.sample(range(72), 3))
            if contract.ecc_decode((w ^ mask) & ((1 << 72) - 1))[1] != EccStatus.CORRECTED:
                continue                                   # SECDED alone detects this one
            hits += 1
            _, status, _, kind, _ = code.decode(w ^ mask)
            assert (status, kind) == (EccStatus.UNCORRECTABLE, contract.UeKind.GUARD), (name, hex(mask))
