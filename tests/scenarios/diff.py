"""Differential runs: the same raw operations on the RTL (Amaranth sim) and on RefEngine.

A scenario is `async def scenario(h: Host)`. It runs twice, once over the RTL (whole
engine in Amaranth's simulator, AXI host memory model) and once over the reference
model, with the same host-memory layout (both memories hand out addresses with the
same first-fit allocator from 0x1000, and the scenario allocates identically). Each
run yields a `Result`: a trace of everything the host saw (each command and its
completion, the events it brought, each list entry's Status word, delegated bytes,
request header and records up to `count`, register checkpoints), the whole host
memory the scenario allocated (bytes the contract leaves undefined masked out), and
every word of the ten ECC memories. `compare()` checks the two byte for byte and
reports the first difference with the operations that led to it.

Back doors: `h.flip(mem, addr, mask72)` / `h.corrupt(mem, addr, word72)` write the
stored codeword (RTL: the memory array through the simulator; model: `RefEngine.flip`
/ `corrupt`); `h.dma_error(lo, hi)` makes host memory [lo, hi) answer SLVERR (RTL: the
AXI model's error ranges; model: `fail_dma`). Both only when the engine is idle.
"""

import os
import random
from dataclasses import dataclass

from chimney.contract import (EngineParams, ObjType, Opcode, COMMAND, COMPLETION, EVENT, LIST_ENTRY, DATA,
                              DELEGATED, WRITE_BACK, REQ_HEADER, REQ_RECORD, MEMORIES, memory_depth,
                              meta_layout, pool_layout, word_code)
from chimney.contract.ecc import ecc_encode
from chimney.rtl import eccmem
from chimney.sw.bus import DeviceTimeout, wait_irq_within
from chimney.sw.harness import run_sync
from chimney.sw.regs import Registers

SMALL = EngineParams(n_neighbor=4, n_path=8, n_tcp=16, n_req=32, dma_timeout=2000)

#: Registers compared at every checkpoint. IRQ_STATUS: only ERR (CPL/EVT are set when
#: the engine publishes, which the host may see before or after it cleared them);
#: DMA_ERR_ADDR_*: the RTL reports the failing burst, the model the structure.
CHECKED_REGS = ("STATUS", "ERR_STATUS", "IRQ_STATUS", "ECC_CE_COUNT", "ECC_UE_COUNT", "ECC_LAST_CE",
                "ECC_LAST_CE_SYN", "ECC_LAST_UE", "ECC_LAST_UE_SYN", "QUARANTINED", "SCRUB_PASSES",
                "CMD_COUNT", "CMDQ_CONS", "CPLQ_PROD", "EVTQ_PROD", "CMDQ_PROD", "CPLQ_CONS", "EVTQ_CONS",
                "DMA_ERR_INFO", "ERRINJ_CTRL")
REG_MASK = {"IRQ_STATUS": 0b100}

FILL = 0xA5                 # delegated structures and request arrays start with this
STATUS_FILL = 0xEEEEEEEE    # Status words start with this


def seed_from_env(default):
    """A random test's seed: CHIMNEY_SEED=<n> sets it, CHIMNEY_SEED=random draws a new one,
    unset gives `default` (reproducible runs). The tests print it."""
    value = os.environ.get("CHIMNEY_SEED", "").strip()
    if not value:
        return default
    if value == "random":
        return random.SystemRandom().randrange(1 << 30)
    return int(value, 0)


# ======================================================================================
# the two sides
# ======================================================================================
class ModelSide:
    is_model = True
    name = "model"

    def __init__(self, params):
        from chimney.sw.refmodel import RefEngine, SimpleHostMemory
        self.params = params
        self.memory = SimpleHostMemory(1 << 22)
        self.engine = RefEngine(params, self.memory)
        self.device = self.engine

    async def tick(self, n=1):
        pass

    def peek(self, name, addr):
        return self.engine.peek(name, addr)

    def poke(self, name, addr, value):
        self.engine.corrupt(name, addr, value)

    def dma_error(self, lo, hi):
        self.engine.fail_dma(lo, hi - lo, read=True, write=True, resp=2)

    def clear_dma_errors(self):
        self.engine.clear_dma_faults()


class RtlSide:
    is_model = False
    name = "rtl"

    def __init__(self, params, ctx, dut, device, memory, axi):
        self.params = params
        self.ctx, self.dut, self.device, self.memory, self.axi = ctx, dut, device, memory, axi

    async def tick(self, n=1):
        for _ in range(n):
            await self.ctx.tick()

    def peek(self, name, addr):
        return eccmem.peek(self.ctx, self.dut.tables.mems[name], addr)

    def poke(self, name, addr, value):
        # through EccMemory's back door: across banks, and into a write still pending
        eccmem.poke(self.ctx, self.dut.tables.mems[name], addr, value)

    def dma_error(self, lo, hi):
        self.axi.errors.append((lo, hi, 2))          # SLVERR on reads and writes

    def clear_dma_errors(self):
        self.axi.errors.clear()


# ======================================================================================
# the host: a raw ring client that records what it sees
# ======================================================================================
@dataclass
class Buf:
    """One list entry's host buffers."""
    obj_type: ObjType
    status: int
    state: int
    req: int
    req_cap: int


@dataclass(repr=False)
class Result:
    side: str
    trace: list
    memory: bytes
    undefined: list
    tables: dict
    top: int

    def __repr__(self):
        return f"<{self.side} result: {len(self.trace)} trace items>"


class NoCompletion(Exception):
    pass


class Host:
    def __init__(self, side, params=SMALL, *, cmd_log2=3, cpl_log2=3, evt_log2=3, wait_cycles=40000):
        self.side = side
        self.params = params
        self.dev = side.device
        self.mem = side.memory
        self.regs = Registers(self.dev, params)
        self.log2 = {"CMDQ": cmd_log2, "CPLQ": cpl_log2, "EVTQ": evt_log2}
        self.wait_cycles = wait_cycles
        self.trace = []
        self.undefined = []          # (lo, hi): host bytes the contract leaves undefined
        self.top = 0x1000            # highest allocated address + 1
        self.tag = 0
        self.ops = 0
        self.events = []             # events consumed and not yet attributed to a command

    # --- bookkeeping --------------------------------------------------------------------
    def note(self, *item):
        self.trace.append((self.ops,) + item)

    def alloc(self, size, align=8, fill=0):
        r = self.mem.alloc(size, align)
        self.mem.write(r.addr, bytes([fill]) * r.size)
        self.top = max(self.top, r.addr + r.size)
        return r.addr

    # --- bring-up ---------------------------------------------------------------------------
    async def wait_ready(self):
        for _ in range(500):
            if await self.regs.read_field("STATUS.READY"):
                return
            await self.side.tick(4)
        raise DeviceTimeout("STATUS.READY never set")

    async def start(self, *, new_rings=True):
        """Program the rings (fresh ones, zeroed) and enable; host indices restart at 0."""
        await self.wait_ready()
        sizes = {"CMDQ": 32, "CPLQ": 16, "EVTQ": 16}
        if new_rings:
            self.ring = {q: self.alloc(sizes[q] << self.log2[q], 64) for q in sizes}
        else:
            for q in sizes:
                self.mem.write(self.ring[q], bytes(sizes[q] << self.log2[q]))
        for q, addr in self.ring.items():
            await self.regs.write64(f"{q}_BASE_LO", f"{q}_BASE_HI", addr)
            await self.regs.write_fields(f"{q}_SIZE", LOG2=self.log2[q])
        await self.regs.write_fields("IRQ_MASK", CPL=1, EVT=1)
        await self.regs.write_fields("CTRL", ENABLE=1)
        for _ in range(50):
            if await self.regs.read_field("STATUS.ENABLED"):
                break
        else:
            raise AssertionError(f"{self.side.name}: engine did not enable")
        self.cmd_prod = 0
        self.cons = {"CPLQ": 0, "EVTQ": 0}

    # --- rings -------------------------------------------------------------------------------
    def _entry(self, q, layout, index):
        log2 = self.log2[q]
        raw = self.mem.read(self.ring[q] + 16 * (index & ((1 << log2) - 1)), 16)
        f = layout.from_bytes(raw)
        return f if f["phase"] == 1 - ((index >> log2) & 1) else None

    async def poll(self):
        """Consume new completions (first) and events by phase; return the completions."""
        cpls = []
        while (f := self._entry("CPLQ", COMPLETION, self.cons["CPLQ"])) is not None:
            cpls.append(f)
            self.cons["CPLQ"] = (self.cons["CPLQ"] + 1) & 0xFFFF
        nev = 0
        while (f := self._entry("EVTQ", EVENT, self.cons["EVTQ"])) is not None:
            self.events.append(f)
            self.cons["EVTQ"] = (self.cons["EVTQ"] + 1) & 0xFFFF
            nev += 1
        if cpls:
            await self.regs.write_fields("CPLQ_CONS", INDEX=self.cons["CPLQ"])
        if nev:
            await self.regs.write_fields("EVTQ_CONS", INDEX=self.cons["EVTQ"])
        return cpls, nev

    async def _wait(self):
        """Let the engine work: until the interrupt line rises (then clear CPL/EVT) or a
        short while passes. The model has no time: returns False when nothing is pending."""
        if not await wait_irq_within(self.dev, 300):
            return not self.side.is_model
        await self.regs.write("IRQ_STATUS", 0b011)
        return True

    async def wait_completions(self, n, *, cycles=None):
        got = []
        budget = (cycles or self.wait_cycles) // 30 + 1
        while True:
            cpls, nev = await self.poll()
            got += cpls
            if len(got) >= n:
                return got
            if not cpls and not nev:
                budget -= 1
                if budget <= 0 or not await self._wait():
                    return got

    def _descriptor(self, opcode, fields):
        self.tag = (self.tag + 1) & 0xFFFF
        cmd = dict(opcode=int(opcode), obj_type=0, tag=self.tag, handle=0, addr=0, count=0, cookie=0, rsvd=0)
        cmd.update(fields)
        slot = self.cmd_prod & ((1 << self.log2["CMDQ"]) - 1)
        self.mem.write(self.ring["CMDQ"] + 32 * slot, COMMAND.to_bytes(cmd))
        self.cmd_prod = (self.cmd_prod + 1) & 0xFFFF
        return cmd

    async def batch(self, cmds, *, expect=None, cycles=None):
        """Write several descriptors, ring the doorbell once, wait for their completions.
        Records each command with its completion and the events consumed meanwhile."""
        self.ops += 1
        cmds, descs, cpls = [dict(c) for c in cmds], [], []
        size = 1 << self.log2["CMDQ"]
        for at in range(0, len(cmds), size):              # never more than the ring holds
            chunk = [self._descriptor(c.pop("opcode"), c) for c in cmds[at:at + size]]
            descs += chunk
            await self.regs.write_fields("CMDQ_PROD", INDEX=self.cmd_prod)
            want = len(chunk) if expect is None else min(expect - len(cpls), len(chunk))
            cpls += await self.wait_completions(want, cycles=cycles)
        self.note("cmds", descs)
        self.note("cpls", cpls)
        self.note("events", self.events)
        self.last_events, self.events = self.events, []
        return cpls

    async def run(self, opcode, **fields):
        cpls = await self.batch([dict(fields, opcode=opcode)])
        if len(cpls) != 1:
            raise NoCompletion(f"{self.side.name}: {len(cpls)} completions for opcode {opcode} {fields}")
        return cpls[0]

    # --- commands -------------------------------------------------------------------------------
    def load_block(self, obj_type, fields=None, *, raw=None):
        t = ObjType(obj_type)
        data = raw if raw is not None else DATA[t].to_bytes(fields or {})
        addr = self.alloc(len(data), 8)
        self.mem.write(addr, data)
        return addr

    async def offload(self, obj_type, fields, parent=0, cookie=0, **kw):
        addr = kw.pop("addr", None) or self.load_block(obj_type, fields)
        return await self.run(Opcode.OFFLOAD, obj_type=int(obj_type), handle=parent, addr=addr, cookie=cookie, **kw)

    async def post(self, handle, cookie, length, recv=False):
        return await self.run(Opcode.POST_RECV if recv else Opcode.POST_SEND, handle=handle, cookie=cookie,
                              count=length)

    async def update(self, obj_type, handle, fields, **kw):
        addr = kw.pop("addr", None) or self.load_block(obj_type, fields)
        return await self.run(Opcode.UPDATE, obj_type=int(obj_type), handle=handle, addr=addr, **kw)

    def entry(self, handle, parent=0, req_cap=0, obj_type=None, detached=0, **addrs):
        """A list entry with fresh buffers; `addrs` may override status/state/req addresses."""
        t = ObjType(obj_type if obj_type is not None else ((handle >> 24) & 3) or 1)
        status = self.alloc(8, 8)
        self.mem.write(status, STATUS_FILL.to_bytes(4, "little") * 2)
        state = self.alloc(DELEGATED[t].size, 8, FILL)
        req = self.alloc(8 + 8 * max(req_cap, 1), 8, FILL)
        b = Buf(t, addrs.get("status_addr", status), addrs.get("state_addr", state),
                addrs.get("req_addr", req), req_cap)
        return dict(handle=handle, parent=parent, req_cap=req_cap, detached=detached, state_addr=b.state,
                    status_addr=b.status, req_addr=b.req), b

    async def list_cmd(self, opcode, entries, *, count=None, addr=None):
        lst = self.alloc(32 * max(len(entries), 1), 8)
        self.mem.write(lst, b"".join(LIST_ENTRY.to_bytes(e) for e, _ in entries))
        cpl = await self.run(opcode, addr=lst if addr is None else addr,
                             count=len(entries) if count is None else count)
        self.observe(opcode, entries)
        return cpl, lst

    async def query(self, entries, **kw):
        return (await self.list_cmd(Opcode.QUERY, entries, **kw))[0]

    async def terminate(self, entries, **kw):
        return (await self.list_cmd(Opcode.TERMINATE, entries, **kw))[0]

    def observe(self, opcode, entries):
        """Record what each entry's buffers hold now; mark request bytes past `count` undefined."""
        for i, (e, b) in enumerate(entries):
            st = int.from_bytes(self.mem.read(b.status, 4), "little") if b.status else None
            wb = WRITE_BACK[b.obj_type]
            deleg = self.mem.read(b.state, DELEGATED[b.obj_type].size) if b.state else None
            item = dict(status=st, deleg=deleg)
            if opcode == Opcode.TERMINATE and b.obj_type == ObjType.TCP and b.req:
                hdr = REQ_HEADER.from_bytes(self.mem.read(b.req, 8))
                n = min(hdr["count"], b.req_cap)
                item["hdr"] = hdr
                item["recs"] = [REQ_RECORD.from_bytes(self.mem.read(b.req + 8 + 8 * k, 8)) for k in range(n)]
                self.undefined.append((b.req + 8 + 8 * n, b.req + 8 + 8 * max(b.req_cap, 1)))
            self.note("entry", i, item)

    # --- faults and registers -------------------------------------------------------------------
    def flip(self, name, addr, mask):
        self.ops += 1
        self.side.poke(name, addr, self.side.peek(name, addr) ^ mask)
        self.note("flip", name, addr, mask)

    def corrupt(self, name, addr, value):
        self.ops += 1
        self.side.poke(name, addr, value)
        self.note("corrupt", name, addr, value)

    def dma_error(self, lo, hi):
        self.side.dma_error(lo, hi)
        self.note("dma_error", lo, hi)

    def clear_dma_errors(self):
        self.side.clear_dma_errors()

    async def quiesce(self):
        """Until the engine is idle (the RTL publishes a little after the host sees an entry)."""
        if self.side.is_model:
            return
        await self.side.tick(16)
        for _ in range(200):
            if not await self.regs.read_field("STATUS.BUSY"):
                await self.side.tick(8)
                if not await self.regs.read_field("STATUS.BUSY"):
                    return
            await self.side.tick(16)
        raise AssertionError("engine stays busy")

    async def checkpoint(self, label):
        await self.quiesce()
        regs = {}
        for r in CHECKED_REGS:
            regs[r] = await self.regs.read(r) & REG_MASK.get(r, 0xFFFFFFFF)
        self.note("regs", label, regs)
        return regs

    async def reclaim(self):
        """SCRUB_CTRL.RECLAIM between commands; wait until it reads 0 again. Returns RECLAIMED."""
        self.ops += 1
        await self.quiesce()
        await self.regs.write_fields("SCRUB_CTRL", RECLAIM=1)
        for _ in range(4000):
            if not self.regs.decode("SCRUB_CTRL", await self.regs.read("SCRUB_CTRL"))["RECLAIM"]:
                break
            await self.side.tick(50)
        else:
            raise AssertionError(f"{self.side.name}: reclaim did not finish")
        count = await self.regs.read("RECLAIMED")
        self.note("reclaimed", count)
        return count

    async def scrub_pass(self):
        """SCRUB_CTRL.PASS between commands; wait for the pass and the events it posts."""
        self.ops += 1
        await self.quiesce()
        before = await self.regs.read("SCRUB_PASSES")
        await self.regs.write_fields("SCRUB_CTRL", PASS=1)
        for _ in range(2000):
            await self.poll()
            if await self.regs.read("SCRUB_PASSES") != before:
                break
            await self.side.tick(20)
        else:
            raise AssertionError(f"{self.side.name}: scrub pass did not finish")
        while True:                             # every event the pass posted (the ring may be small)
            await self.quiesce()
            _, nev = await self.poll()
            if not nev:
                break
        self.note("scrub events", self.events)
        self.events = []

    # --- end of a run ------------------------------------------------------------------------------
    async def finish(self):
        await self.checkpoint("end")
        await self.poll()
        if self.events:
            self.note("late events", self.events)
        tables = {name: [self.side.peek(name, a) for a in range(memory_depth(self.params, name))]
                  for name, _, _ in MEMORIES}
        return Result(self.side.name, self.trace, self.mem.read(0x1000, self.top - 0x1000), list(self.undefined),
                      tables, self.top)


# ======================================================================================
# running and comparing
# ======================================================================================
def run_model(scenario, params=SMALL, **host_kw):
    side = ModelSide(params)
    host = Host(side, params, **host_kw)

    async def main():
        await host.start()
        await scenario(host)
        return await host.finish()
    return run_sync(main())


def run_rtl(scenario, params=SMALL, *, until_s=5e-3, axi_kw=None, **host_kw):
    from chimney.tb.amaranth_backend import run_engine
    out = []

    async def bench(ctx, dut, device, memory, axi):
        host = Host(RtlSide(params, ctx, dut, device, memory, axi), params, **host_kw)
        await host.start()
        await scenario(host)
        out.append(await host.finish())
    axi = run_engine(params, bench, until_s=until_s, **(axi_kw or {}))
    assert axi.violations == [], axi.violations[:5]
    return out[0]


def _same_word(name, a, b):
    """Stored words agree: identical, or (meta and pool words, which the RTL updates by
    setting bits in the word it read while the model re-encodes its fields) decoding to
    the same ECC status and the same fields."""
    if a == b:
        return True
    kind = next(k for n, _, k in MEMORIES if n == name)
    if kind not in ("meta", "pool"):
        return False
    code = word_code(SMALL, name)
    da, sa = code.decode(a)[:2]
    db, sb = code.decode(b)[:2]
    if sa != sb:
        return False
    if kind == "pool":
        lay = pool_layout(SMALL)
        return lay.unpack(da) == lay.unpack(db)
    t = next(t for n, t, _ in MEMORIES if n == name)
    lay = meta_layout(SMALL, t)
    ua, ub = lay.unpack(da, variant={"u": "live"}), lay.unpack(db, variant={"u": "live"})
    if ua["valid"]:
        return ua == ub
    fa, fb = lay.unpack(da, variant={"u": "free"}), lay.unpack(db, variant={"u": "free"})
    return fa == fb and ua["poisoned"] == ub["poisoned"]


def _short(x):
    if isinstance(x, (bytes, bytearray)):
        return x.hex() if len(x) <= 24 else x[:24].hex() + f"..({len(x)} bytes)"
    if isinstance(x, dict):
        return {k: _short(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_short(v) for v in x)
    return x


def _fmt(item):
    text = repr(_short(item))
    return text if len(text) < 1200 else text[:1200] + " ..."


def compare(rtl: Result, model: Result, what=""):
    """Assert that two runs agree; the message names the first difference."""
    for i, (a, b) in enumerate(zip(rtl.trace, model.trace)):
        if a != b:
            ctx = "\n".join("   " + _fmt(x) for x in model.trace[max(0, i - 6):i])
            raise AssertionError(f"{what}: RTL and model differ at trace item {i} (operation {a[0]}):\n"
                                 f"  rtl:   {_fmt(a)}\n  model: {_fmt(b)}\n  after:\n{ctx}")
    assert len(rtl.trace) == len(model.trace), \
        f"{what}: trace lengths differ: rtl {len(rtl.trace)}, model {len(model.trace)}: " \
        f"{_fmt((rtl.trace if len(rtl.trace) > len(model.trace) else model.trace)[min(len(rtl.trace), len(model.trace))])}"
    assert rtl.top == model.top
    ra, ma = bytearray(rtl.memory), bytearray(model.memory)
    for lo, hi in rtl.undefined + model.undefined:
        for k in range(max(lo, 0x1000), min(hi, rtl.top)):
            ra[k - 0x1000] = ma[k - 0x1000] = 0
    if ra != ma:
        k = next(i for i in range(len(ra)) if ra[i] != ma[i])
        raise AssertionError(f"{what}: host memory differs at {k + 0x1000:#x}: rtl {bytes(ra[k:k + 16]).hex()} "
                             f"model {bytes(ma[k:k + 16]).hex()}")
    for name, words in rtl.tables.items():
        for a, (x, y) in enumerate(zip(words, model.tables[name])):
            if not _same_word(name, x, y):
                raise AssertionError(f"{what}: {name}[{a}] differs: rtl {x:#020x} model {y:#020x}")


def differential(scenario, params=SMALL, *, axi_kw=None, until_s=5e-3, **host_kw):
    """Run `scenario` on both sides and compare; returns (rtl, model) results."""
    model = run_model(scenario, params, **host_kw)
    rtl = run_rtl(scenario, params, axi_kw=axi_kw, until_s=until_s, **host_kw)
    compare(rtl, model, getattr(scenario, "__name__", "scenario"))
    return rtl, model


# ======================================================================================
# building blocks for scenarios
# ======================================================================================
def tcp_fields(rng, state=None):
    from chimney.contract import TCP_DATA
    f = {name: rng.getrandbits(fld.width) for name, _, fld in TCP_DATA if not name.startswith("rsvd")}
    f["State"] = rng.randrange(11) if state is None else state
    return f


def neighbor_fields(rng):
    return {"NicReachabilityDelta": rng.getrandbits(32), "HostReachabilityDelta": rng.getrandbits(32),
            "DlDestinationAddress": rng.getrandbits(48), "VlanId": rng.getrandbits(12)}


def path_fields(rng):
    return {"PathMtu": rng.getrandbits(32)}


def index(handle):
    return handle & 0xFFFF


async def tree(h, rng, n_tcp=2, cookie=0x100):
    """Offload a neighbor, a path and n_tcp connections; returns (nb, path, [tcp handles])."""
    nb = (await h.offload(ObjType.NEIGHBOR, neighbor_fields(rng), cookie=cookie))["result"]
    pa = (await h.offload(ObjType.PATH, path_fields(rng), parent=nb, cookie=cookie + 1))["result"]
    tcps = []
    for i in range(n_tcp):
        tcps.append((await h.offload(ObjType.TCP, tcp_fields(rng), parent=pa, cookie=cookie + 2 + i))["result"])
    return nb, pa, tcps


async def reset(h, label="before reset"):
    """A checkpoint, CTRL.RESET, then the rings again (same memory, zeroed); host indices
    restart at 0."""
    await h.quiesce()
    await h.poll()                              # events still in the ring (a scrub's)
    if h.events:
        h.note("late events", h.events)
        h.events = []
    await h.checkpoint(label)
    h.ops += 1
    await h.regs.write_fields("CTRL", RESET=1)
    await h.side.tick(4)
    await h.start(new_rings=False)


def fault_mask(rng, kind):
    """A 72-bit XOR mask (or, for 'word'/'codeword', a whole new stored word)."""
    if kind in ("single", "double", "triple"):
        bits = rng.sample(range(72), {"single": 1, "double": 2, "triple": 3}[kind])
        return sum(1 << b for b in bits)
    if kind == "word":
        return rng.getrandbits(72)
    return ecc_encode(rng.getrandbits(64))


async def apply_fault(h, rng, kind, name, addr):
    if kind in ("word", "codeword"):
        h.corrupt(name, addr, fault_mask(rng, kind))
    else:
        h.flip(name, addr, fault_mask(rng, kind))
