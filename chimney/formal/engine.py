"""The whole engine (`rtl.top.ChimneyEngine`), bounded: one command from reset.

Harness: the unmodified engine top (command engine, state tables with their ten ECC
memories, scrubber, emitter, DMA master) in the smallest configuration the contract
allows, with the CSR block replaced by `RegisterStub`: the same `bus`/`regs` ports,
no storage, every register field at its reset value except those a host sets before
it rings the doorbell. The register file itself is proven by `csr_port` (k-induction),
so here the configuration registers are free-but-stable values from reset:

  * CMDQ/CPLQ/EVTQ_BASE: any non-zero 64-byte aligned 32-bit address (BASE_HI 0),
    *_SIZE.LOG2 any of 1..15, no ring past 2^32; CTRL.ENABLE = 1 with one CTRL write
    (the RESET_we pulse of a DB field) in the first cycle;
  * one command: CMDQ_PROD.INDEX = 1 written once, in the first cycle;
  * an idle host: no consumer doorbell, no other register write, scrubber off.

Host memory, through a responsive AXI4 subordinate (AW, W and AR always ready; R beats
of an accepted burst from the next cycle on, back to back, RLAST on the burst's last
beat; B for a burst once its AW and last W are in; every response OKAY): the command
ring's slot 0 holds a free-but-fixed descriptor, the descriptor's list (QUERY and
TERMINATE) free-but-fixed entries, every other address free data in every beat (load
blocks, anything). So every opcode, every handle, every malformed field is covered.
Bounds (so K stays small): a list `count` is 0, 1..MAX_ENTRIES or above 65534 (0 and
above 65534 are refused), the list does not overlap the descriptor, no list or ring
wraps past 2^32, every address the command names is below 2^32 (the bus's reach: see
tests/test_axi_findings.py), no named buffer overlaps the completion entry.

Asserted:
  * exactly one completion: the completion ring's slot 0 (16 bytes, two beats) is
    written by exactly two beats, never more, and within K cycles; its second beat
    carries the command's tag, phase 1 and the low 4 bits of the opcode;
  * host writes only where the command or the ring configuration names: every byte a
    W beat enables lies in the completion entry being written (slot 0), the first
    2 * MAX_ENTRIES event ring entries (at most two events per list entry), or, for list
    entry i < count: its `status_addr` word [s, s + 4); its delegated bytes
    [state_addr + 8, + 124) for a TCP handle, [state_addr + 8, + 12) for a neighbor; and
    for a TCP entry of a TERMINATE its request array [req_addr, + 8 + 8 * req_cap);
  * every W beat belongs to an AW burst already accepted (so its address is known).

Not covered here: more than one command, rows offloaded before the command (from
reset every row is free, so a TERMINATE's entries are refused: STALE_HANDLE,
BAD_HANDLE, BAD_ADDRESS ...), ECC faults, bus errors and back-pressure (the DMA port
proofs cover the bus), host doorbells while the command runs.

Mutants (each must fail): `cpl_twice` a wrapper that repeats the completion entry's
beats; `addr_shift` a wrapper that moves every write 16 bytes up (the completion into slot 1);
`k_too_small` the bound K set to 34 cycles, one short of the earliest completion (a NOP's,
written in cycles 33 and 34 after reset), so "within K" must fail.
"""

from amaranth.hdl import (Array, Assert, Assume, Cat, ClockDomain, Const, Cover, Elaboratable, Module, Mux,
                          Signal)
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from chimney.contract import (COMMAND, LIST_ENTRY, COMPLETION, EngineParams, ObjType, Opcode, register_map)
from chimney.rtl.axi import AxiLiteSignature
from chimney.rtl.csr import regs_signature

from .rules import AnyConst, AnySeq, started

MUTANTS = {
    "cpl_twice": "wrapper repeats the completion entry's two beats (a second completion write)",
    "addr_shift": "wrapper moves every write 16 bytes up (the completion lands in slot 1)",
    "k_too_small": "the harness built with K = 34, one cycle before the earliest completion (a NOP's)",
}

ECC = True              # the shipped build (without: about 15% faster here)
MAX_ENTRIES = 1          # list entries read at most (count bound)
AW = 32                  # address width of the harness build (every named address below 2^32)


def formal_params():
    """The smallest build: two rows per table, two pool entries, the shortest RAM latency,
    32-bit addresses, 4-beat bursts (the splitter still cuts delegated bytes), a timeout
    far beyond the subordinate's latency."""
    return EngineParams(n_neighbor=2, n_path=2, n_tcp=2, n_req=2, addr_width=AW, max_burst=4,
                        dma_timeout=64, ram_latency=2, ecc=ECC)


class RegisterStub(wiring.Component):
    """Stands in for `CsrBlock` in the engine top: the same ports, no storage. Every RW,
    RW1C, RWSC and DB field is held at its reset value unless the harness drives it
    (`overrides`: {(register, field): value}); the AXI4-Lite port never answers."""

    def __init__(self, params, overrides):
        self.regmap = register_map(params)
        self.overrides = overrides
        super().__init__({
            "bus": In(AxiLiteSignature(self.regmap.addr_bits, 32)),
            "regs": Out(regs_signature(self.regmap)),
        })

    def elaborate(self, platform):
        m = Module()
        for reg in self.regmap:
            port = getattr(self.regs, reg.name)
            for f in reg.fields:
                if f.access == "RO":
                    continue
                value = self.overrides.get((reg.name, f.name), Const(f.reset, f.width))
                m.d.comb += getattr(port, f.name).eq(value)
                if f.access == "DB":
                    m.d.comb += getattr(port, f.name + "_we").eq(
                        self.overrides.get((reg.name, f.name + "_we"), 0))
        m.d.comb += [self.bus.awready.eq(0), self.bus.wready.eq(0), self.bus.arready.eq(0),
                     self.bus.bvalid.eq(0), self.bus.rvalid.eq(0)]
        return m


class EngineHarness(Elaboratable):
    """`depth`: the BMC bound K (the completion must be written by then). `sim=True`
    builds plain signals instead of the free values, for an Amaranth simulation that
    measures K (`self.knobs`: name -> Signal to set)."""

    def __init__(self, mutant=None, depth=0, sim=False):
        assert mutant in (None, *MUTANTS), mutant
        self.mutant = mutant
        self.depth = 34 if mutant == "k_too_small" else depth
        self.sim = sim
        self.params = formal_params()
        self.knobs = {}
        self.failed = {}
        self.ports = []

    def _assert(self, cond, msg):
        """Assert, or in a simulation a flag per message (`self.failed`)."""
        if not self.sim:
            return Assert(cond, msg, src_loc_at=1)
        flag = self.failed.setdefault(msg, Signal(name="failed"))
        return flag.eq(~cond)

    def _free(self, m, width, name, const=True):
        s = Signal(width, name=name)
        if self.sim:
            self.knobs[name] = s
        else:
            m.d.comb += s.eq(AnyConst(width) if const else AnySeq(width))
        return s

    def elaborate(self, platform):
        from chimney.rtl.top import ChimneyEngine
        m = Module()
        m.domains.sync = cd = ClockDomain()
        self.ports = [cd.clk, cd.rst]
        if not self.sim:
            m.d.comb += Assume(~cd.rst)
        go = started(m)
        p = self.params
        cycle = Signal(range(max(self.depth, 2) + 2), name="cycle")
        m.d.sync += cycle.eq(Mux(cycle == 2 ** len(cycle) - 1, cycle, cycle + 1))

        # ---- configuration (free, stable, legal) ----------------------------------
        bases = {q: self._free(m, AW, f"{q.lower()}_base") for q in ("CMDQ", "CPLQ", "EVTQ")}
        log2s = {q: self._free(m, 4, f"{q.lower()}_log2") for q in ("CMDQ", "CPLQ", "EVTQ")}
        ent_bytes = {"CMDQ": 32, "CPLQ": 16, "EVTQ": 16}
        if not self.sim:
            for q in bases:
                m.d.comb += [Assume(bases[q][:6] == 0), Assume(bases[q] != 0), Assume(log2s[q] != 0),
                             # the ring ends below 2^32
                             Assume((Cat(bases[q], Const(0, 1)) + (Const(ent_bytes[q], 21) << log2s[q]))
                                    <= (1 << AW))]
        first = ~go                                   # the first cycle
        doorbell = first
        overrides = {("CTRL", "ENABLE"): 1, ("CTRL", "RESET_we"): first,
                     ("CMDQ_PROD", "INDEX"): 1, ("CMDQ_PROD", "INDEX_we"): doorbell}
        for q in bases:
            overrides[(f"{q}_BASE_LO", "ADDR")] = bases[q][:32]
            if AW > 32:
                overrides[(f"{q}_BASE_HI", "ADDR")] = bases[q][32:]
            overrides[(f"{q}_SIZE", "LOG2")] = log2s[q]

        top = ChimneyEngine(p)
        top.csr_block = RegisterStub(p, overrides)
        m.submodules.top = top
        axi = top.dma

        # ---- what host memory holds for this command ---------------------------------
        desc_raw = self._free(m, 256, "desc")
        desc = data.View(COMMAND.amaranth(), desc_raw)
        ents_raw = [self._free(m, 256, f"entry{i}") for i in range(MAX_ENTRIES)]
        ents = [data.View(LIST_ENTRY.amaranth(), r) for r in ents_raw]
        is_list = (desc.opcode == Opcode.QUERY) | (desc.opcode == Opcode.TERMINATE)
        list_addr = desc.addr[:AW]
        if not self.sim:
            # every address the command names is one the bus can reach (a 32-bit build takes
            # the low bits of a larger one: tests/test_axi_findings.py)
            m.d.comb += Assume(desc.addr[AW:] == 0)
            for e in ents:
                m.d.comb += [Assume(e.status_addr[AW:] == 0), Assume(e.state_addr[AW:] == 0),
                             Assume(e.req_addr[AW:] == 0)]
            with m.If(is_list):
                m.d.comb += Assume((desc.count <= MAX_ENTRIES) | (desc.count > 0xFFFE))
                with m.If((desc.count != 0) & (desc.count <= MAX_ENTRIES)):
                    end = Signal(AW + 1, name="list_end")
                    m.d.comb += end.eq(list_addr + (desc.count[:8] << 5))
                    m.d.comb += [Assume(end <= (1 << AW)),
                                 # the list is not the descriptor
                                 Assume((end <= bases["CMDQ"]) | (list_addr >= bases["CMDQ"] + 32))]

        # ---- the subordinate: AR/AW/W always ready, R and B as soon as owed -----------
        m.d.comb += [axi.arready.eq(1), axi.awready.eq(1), axi.wready.eq(1),
                     axi.rresp.eq(0), axi.bresp.eq(0), axi.rid.eq(0), axi.bid.eq(0)]
        Q = 4                                             # rd_outstanding of the top's DMA master
        ar_hs = axi.arvalid & axi.arready
        r_hs = axi.rvalid & axi.rready
        r_addr, r_last, rq_n = _burst_queue(m, "r", Q, AW, ar_hs, axi.araddr, axi.arlen, r_hs)
        r_end = r_hs & r_last
        m.d.comb += [axi.rvalid.eq(rq_n != 0), axi.rlast.eq(r_last)]
        m.d.comb += self._assert(~ar_hs | (rq_n < Q) | r_end, "harness: more read bursts than the queue holds")
        # read data: the descriptor, the list entries, else anything
        rdata = self._free(m, 64, "s_rdata", const=False)
        word = Signal(64, name="s_rword")
        m.d.comb += word.eq(rdata)
        in_desc = (r_addr >= bases["CMDQ"]) & (r_addr < bases["CMDQ"] + 32)
        with m.If(is_list):
            for i in range(MAX_ENTRIES):
                lo = list_addr + 32 * i
                with m.If((desc.count > i) & (desc.count <= MAX_ENTRIES) & (r_addr >= lo) & (r_addr < lo + 32)):
                    m.d.comb += word.eq(ents_raw[i].word_select((r_addr - lo)[3:5], 64))
        with m.If(in_desc):
            m.d.comb += word.eq(desc_raw.word_select((r_addr - bases["CMDQ"])[3:5], 64))
        m.d.comb += axi.rdata.eq(word)

        # write side: AW bursts in order, W beats addressed from the head burst
        WQ = 16                                           # wr_outstanding of the top's DMA master
        aw_hs = axi.awvalid & axi.awready
        w_valid, w_strb, w_data, w_last = axi.wvalid, axi.wstrb, axi.wdata, axi.wlast
        w_hs = w_valid & axi.wready
        w_addr, w_at_end, wq_n = _burst_queue(m, "w", WQ, AW, aw_hs, axi.awaddr, axi.awlen, w_hs)
        w_end = w_hs & w_at_end
        m.d.comb += self._assert(~w_hs | (wq_n != 0), "W beat before its AW burst was accepted")
        b_owed = Signal(range(WQ + 1), name="s_b_owed")
        m.d.comb += axi.bvalid.eq(b_owed != 0)
        m.d.sync += b_owed.eq(b_owed + w_end - (axi.bvalid & axi.bready))

        # what a mutant wrapper changes between the engine's W and the host's view
        seen_addr = Signal(AW, name="seen_waddr")
        seen_valid = Signal(name="seen_wvalid")
        m.d.comb += [seen_addr.eq(w_addr), seen_valid.eq(w_hs)]
        if self.mutant == "addr_shift":
            m.d.comb += seen_addr.eq(w_addr + 16)

        # ---- the completion ----------------------------------------------------------
        cpl = bases["CPLQ"]
        in_cpl = (seen_addr >= cpl) & (seen_addr < cpl + 16)
        cpl_beats = Signal(3, name="cpl_beats")
        count_now = seen_valid & in_cpl
        # cpl_twice: the host sees each beat of the entry twice (the entry written again)
        step = Mux(count_now, 2 if self.mutant == "cpl_twice" else 1, 0)
        m.d.sync += cpl_beats.eq(Mux(cpl_beats >= 6, cpl_beats, cpl_beats + step))
        m.d.comb += self._assert(cpl_beats <= 2, "more than one completion entry written")
        cpl_hi = Signal(64, name="cpl_hi")
        m.d.comb += cpl_hi.eq(w_data)
        with m.If(count_now & (seen_addr == cpl + 8)):
            m.d.comb += [
                self._assert(cpl_hi[0:16] == desc.tag, "completion: tag is not the command's"),
                self._assert(cpl_hi[56] == 1, "completion: phase is not 1 on the first pass"),
                self._assert(cpl_hi[60:64] == desc.opcode[:4], "completion: opcode is not the command's"),
            ]
        if self.depth:
            with m.If(cycle >= self.depth - 1):
                m.d.comb += self._assert(cpl_beats == 2, "no completion within K cycles")

        # ---- every enabled byte inside a named window -------------------------------
        lo_b, hi_b = Signal(3, name="w_lo_byte"), Signal(3, name="w_hi_byte")
        for k in reversed(range(8)):
            with m.If(w_strb[k]):
                m.d.comb += lo_b.eq(k)
        for k in range(8):
            with m.If(w_strb[k]):
                m.d.comb += hi_b.eq(k)
        lo = Signal(AW + 1, name="w_lo")
        hi = Signal(AW + 1, name="w_hi")
        m.d.comb += [lo.eq(seen_addr + lo_b), hi.eq(seen_addr + hi_b)]
        windows = [(Const(1), cpl, cpl + 16),
                   (Const(1), bases["EVTQ"], bases["EVTQ"] + 16 * 2 * MAX_ENTRIES)]
        for i, e in enumerate(ents):
            named = is_list & (desc.count > i) & (desc.count <= MAX_ENTRIES)
            htype = e.handle[24:26]
            s, a, r = e.status_addr[:AW], e.state_addr[:AW], e.req_addr[:AW]
            windows += [
                (named, s, s + 4),
                (named & (htype == ObjType.TCP), a + 8, a + 124),
                (named & (htype == ObjType.NEIGHBOR), a + 8, a + 12),
                (named & (htype == ObjType.TCP) & (desc.opcode == Opcode.TERMINATE),
                 r, r + 8 + (e.req_cap << 3)),
            ]
        if not self.sim:
            # a host that names a buffer inside the completion entry defeats its identification
            for en, wlo, whi in windows[2:]:
                m.d.comb += Assume(~en | (whi <= cpl) | (wlo >= cpl + 16))
        inside = Signal(len(windows), name="w_in_window")
        for k, (en, wlo, whi) in enumerate(windows):
            m.d.comb += inside[k].eq(en & (lo >= wlo) & (hi < whi))
        with m.If(seen_valid & (w_strb != 0)):
            m.d.comb += self._assert(inside.any(), "host write outside every named window")

        # ---- covers ------------------------------------------------------------------
        cpl_status = Signal(32, name="cpl_status")        # the first beat's status word
        with m.If(count_now & (seen_addr == cpl)):
            m.d.sync += cpl_status.eq(w_data[:32])
        terminate = is_list & (desc.opcode == Opcode.TERMINATE) & (desc.count == 1)
        m.d.comb += [
            Cover(cpl_beats == 2),                                    # a completion
            Cover(terminate & seen_valid & inside[2]),                # a TERMINATE entry's Status word
            Cover((cpl_beats == 2) & (cpl_status != 0)),              # an error completion
        ]
        self.signals = dict(cycle=cycle, w_data=w_data, w_strb=w_strb, cpl_beats=cpl_beats, w_addr=w_addr, w_hs=w_hs, r_addr=r_addr,
                            r_hs=r_hs, cpl_status=cpl_status, inside=inside)
        return m


def _burst_queue(m, name, depth, aw, take, addr, length, beat):
    """The subordinate's view of one channel pair: address bursts accepted (`take`) in
    order, and the beats of the oldest one (`beat`: one taken). Returns the current beat's
    address, whether it is that burst's last, and how many bursts are open."""
    q_addr = Array(Signal(aw, name=f"{name}q_addr{k}") for k in range(depth))
    q_len = Array(Signal(8, name=f"{name}q_len{k}") for k in range(depth))
    rd, wr, n = Signal(range(depth)), Signal(range(depth)), Signal(range(depth + 1))
    count = Signal(8, name=f"s_{name}beat")
    at = Signal(aw, name=f"s_{name}addr")
    last = Signal(name=f"s_{name}last")
    m.d.comb += [at.eq(q_addr[rd] + (count << 3)), last.eq(count == q_len[rd])]
    end = beat & last
    with m.If(take):
        m.d.sync += [q_addr[wr].eq(addr), q_len[wr].eq(length), wr.eq(wr + 1)]
    with m.If(beat):
        m.d.sync += count.eq(Mux(end, 0, count + 1))
    with m.If(end):
        m.d.sync += rd.eq(rd + 1)
    m.d.sync += n.eq(n + take - end)
    return at, last, n


DEPTH = 71            # K: a TERMINATE of one entry completes in cycle 70 (test_formal's simulation)
COVER_DEPTH = 60      # the three covers: cycles 35, 36 and about 55
WHY = ("BMC, not k-induction: 'a completion within K cycles of reset' is a bounded property, and "
       "induction over the engine would need invariants on every FSM state, the ten memories and the "
       "DMA queues (engine internals these proofs stay away from). K = {d} cycles from reset covers every "
       "command allowed here (table walk, fetch, decode, a list of one entry, fences, completion: a "
       "TERMINATE of one entry completes in cycle 70); one list entry at most, the smallest tables "
       "(2 rows) and 32-bit addresses keep it to tens of minutes on this 2-core machine")


def proofs(Proof):
    return [Proof("engine_one_command", lambda mutant=None: EngineHarness(mutant, DEPTH), "bmc", DEPTH,
                  COVER_DEPTH, MUTANTS, mutant_depth=DEPTH, why=WHY.format(d=DEPTH),
                  cost=2000, timeout=3 * 3600)]
