"""One SECDED-protected word memory: encode on write, check and correct on read,
write corrected words back, and flip chosen bits of the next write on request.

Banks: the words are stored in banks of at most `bank_depth` words (2048 by default:
one row of DP16KD blocks in their 2048 x 9 mode, so yosys builds a bank without a
depth multiplexer of its own), each a `lib.memory.Memory` (submodule `mem` when there
is one bank, else `mem0`, `mem1`, ... holding words bank * bank_depth onwards). Every
bank's output goes straight into a flop; the depth multiplexer comes after those flops.
(The DP16KD's own output register, REGMODE=OUTREG, would be the better flop, but
yosys 0.70's ECP5 block-RAM mapping, techlibs/lattice/brams_16kd.txt and
brams_map_16kd.v, always sets REGMODE to NOREG.)

Read pipeline, one read per cycle; rd_valid comes LATENCY cycles after rd_en. The
stages, in order: every bank's synchronous read; a plain flop per bank; the depth
multiplexer (AND-OR over a registered one-hot select, the forwarded word as its other
choice); the SECDED and guard syndromes; the first half of the correction (the flip
applied, the guard syndrome after it: `rtl.ecc.correct_fix`); the ce/ue decision
(`correct_decide`) -> rd_*. Between the bank flops and rd_* go LATENCY - 2 more
registers (`stage_registers()`):

    latency 2:  none: multiplexer, syndromes, correction and decision in one cycle
    latency 3:  after the syndromes
    latency 4:  after the multiplexer and the syndromes for an unguarded word in
                several banks; after the syndromes and the correction's first half
                otherwise (a guarded word: its decision is the longer logic)
    latency 5:  after the multiplexer, the syndromes and the correction's first half
    rd_* come from the decision stage, combinational (a few LUT levels after a flop at
    latency 4 and 5).

The forwarded word's syndromes are computed a cycle early from the write register, so
forwarding is a 2:1 choice after the read word's XOR trees, not a mux in front of them.

Writes are registered once (the write register): the client's word is encoded (and
injected into) in its own cycle and reaches the block RAM in the next, so the encoder's
XOR trees and the routing to the block RAMs are in separate cycles. The RAM's read port
is not transparent (and `no_rw_check`: yosys adds no collision logic); the read pipeline
takes the word from the write register instead when a write to the same address is in
it or enters it in the read's own cycle, so a read sees every write of an earlier cycle
and the write of its own cycle (the same as one transparent memory).

Timing (yowasp yosys 0.70 + nextpnr-ecp5 seed 1, LFE5U-85F speed 8, the component alone
with inputs and outputs registered: `python -m chimney.synth --component eccmem_tcp_data`;
docs/performance.md "Component timing"): at latency 4 every logic stage fits 180 MHz;
what is left is the DP16KD's clock-to-out without its output register (4.26 ns) plus
the routing to the bank flop, 1.1-1.7 ns depending on where the placer puts the flop
(about 170-190 MHz over seeds).

CE scrub-back: a read that finds a single-bit error stages (address, corrected
codeword) in a register, then in a one-entry buffer that is written back in the
first cycle where the client does not write (client writes have priority on the
single write port). A client write to that address after the RAM was sampled
(while the read is in flight, staged or buffered) drops it, so a scrub-back never
overwrites newer data. A CE that finds the buffer full is not written back (it is
still reported); the patrol scrubber will meet the word again.

Error injection: while inj_arm is high, the next client write stores
codeword ^ inj_mask and inj_done is high in that same cycle. An arm is used
once: later writes are clean until inj_arm has been low for a cycle, so an
owner that clears its ARM bit a few cycles late cannot inject twice. Scrub-back
writes never inject.

Guard (guard_in not None; meta words and pool entries, `chimney.contract.ecc.WordCode`):
the word also carries 16 guard check bits, `guard_in` of them in its free top bits and
the rest stored beside the 72. The guard syndrome is computed in the same stage as the
SECDED one; the correct stage takes a SECDED single-bit match only when the guard agrees,
and calls everything else uncorrectable (`ev_guard` marks those SECDED alone would have
accepted). rd_data shows the guard bits as zero. Injection flips the first 72 bits.

ecc=False: the RAM stores plain 64-bit words, rd_ce/rd_ue/rd_syndrome/ev_* are
always 0, nothing is scrubbed, and injection flips inj_mask[63:0].

Back door (simulation): `peek`, `poke`, `flip` below take word addresses and find the
bank; the Verilog name map lists each bank's array with the first word it holds
(`chimney.generate`), and `chimney.tb.faults` addresses words through it.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Shape, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory, ReadPort, WritePort
from amaranth.utils import ceil_log2
from amaranth.lib.wiring import In, Out

from chimney.contract.ecc import GUARD_BITS, SECDED, WordCode

from .ecc import (CHECK_BITS, CODE_BITS, DATA_BITS, correct_decide, correct_fix, ecc_syndrome,
                  guard_syndrome, word_encode)
from .pack import or_all

__all__ = ["EccMemory", "peek", "poke", "flip"]


class _BankedData:
    """`memory.data[addr]` across banks, for the simulator back door (and code that
    reads `EccMemory.memory` as one Memory): the row of the bank holding word `addr`."""

    def __init__(self, mem):
        self._mem = mem

    def __getitem__(self, addr):
        memory, offset = self._mem.bank_of(addr)
        return memory.data[offset]

    def __len__(self):
        return self._mem.depth


class _BankedMemory:
    """Stands in for `EccMemory.memory` when there are several banks: `data`, `shape`, `depth`."""

    def __init__(self, mem):
        self.data = _BankedData(mem)
        self.shape = mem.width
        self.depth = mem.depth


class EccMemory(wiring.Component):
    """ECC word memory (see the module docstring).

    Ports: rd_en/rd_addr in, rd_valid/rd_addr_out/rd_data/rd_ce/rd_ue/rd_syndrome out
    `LATENCY` cycles later; wr_en/wr_addr/wr_data in; inj_arm/inj_mask in, inj_done out;
    ev_ce/ev_ue/ev_guard/ev_addr/ev_syndrome out (the read's outcome, for the reporter);
    busy_scrub out (a corrected word is staged or buffered for write-back).

    `self.banks`: [(first word, Memory)], elaborated as submodules `bank_names()`;
    `self.memory` is the one Memory when there is one bank, else a word-addressed view
    (`memory.data[addr]`) of them all. `wq_en`, `wq_addr`, `wq_code`: the write register;
    while wq_en it holds the newest value of word wq_addr (its bank gets it at the next
    clock edge), so a back door reads and writes the word there too (`peek`, `poke`)."""

    LATENCY = 2
    BANK_DEPTH = 2048

    def __init__(self, depth, *, ecc=True, name="mem", latency=2, guard_in=None, bank_depth=BANK_DEPTH):
        if depth < 1:
            raise ValueError("depth must be at least 1")
        if latency not in (2, 3, 4, 5):
            raise ValueError("latency must be 2, 3, 4 or 5")
        if bank_depth < 1 or bank_depth & (bank_depth - 1):
            raise ValueError("bank_depth must be a power of two")
        self.LATENCY = latency               # instance value shadows the class default
        self.depth = depth
        self.ecc = bool(ecc)
        self.name = name                     # logical name (e.g. a chimney.contract.MEMORIES entry)
        self.abits = abits = max(1, (depth - 1).bit_length())
        # guard_in not None: the word also carries the 16-bit guard (meta words, pool entries)
        self.code = (WordCode(guard_in) if guard_in is not None else SECDED) if self.ecc else None
        self.width = self.code.width if self.ecc else DATA_BITS
        self.bank_depth = min(bank_depth, 1 << abits)
        self.obits = max(1, (self.bank_depth - 1).bit_length()) if self.bank_depth > 1 else 0
        # no_rw_check: a read and a write of one address in one cycle may read anything (the
        # pipeline takes that word from the write register), so yosys adds no collision logic
        self.banks = [(base, Memory(shape=self.width, depth=min(self.bank_depth, depth - base), init=[],
                                    attrs={"no_rw_check": 1}))
                      for base in range(0, depth, self.bank_depth)]      # all-zero is a valid codeword
        # Ports are made here, not in elaborate(), so elaborating twice cannot add ports twice.
        # Not transparent: the read pipeline forwards from the write register instead.
        # The ports' signals are named x<bank>_w/_r: after "wq_..." in yosys' name order, so
        # the write register keeps its own name in the Verilog (the name map points there)
        self._ports = [(WritePort(WritePort.Signature(addr_width=ceil_log2(mem.depth), shape=self.width),
                                  memory=mem, domain="sync", path=(f"x{i}_w",)),
                        ReadPort(ReadPort.Signature(addr_width=ceil_log2(mem.depth), shape=self.width),
                                 memory=mem, domain="sync", path=(f"x{i}_r",)))
                       for i, (_, mem) in enumerate(self.banks)]
        self.memory = self.banks[0][1] if len(self.banks) == 1 else _BankedMemory(self)
        # the write register (the newest value of word wq_addr while wq_en): the back door's too
        self.wq_en = Signal(name="wq_en")
        self.wq_addr = Signal(abits, name="wq_addr")
        self.wq_code = Signal(self.width, name="wq_code")
        super().__init__({
            "rd_addr": In(abits), "rd_en": In(1),
            "rd_valid": Out(1), "rd_data": Out(DATA_BITS), "rd_ce": Out(1), "rd_ue": Out(1),
            "rd_syndrome": Out(CHECK_BITS), "rd_addr_out": Out(abits),
            "ev_guard": Out(1),                  # with ev_ue: found by the guard, not SECDED
            "wr_addr": In(abits), "wr_en": In(1), "wr_data": In(DATA_BITS),
            "inj_arm": In(1), "inj_mask": In(CODE_BITS), "inj_done": Out(1),
            "ev_ce": Out(1), "ev_ue": Out(1), "ev_addr": Out(abits), "ev_syndrome": Out(CHECK_BITS),
            "busy_scrub": Out(1),
        })

    def stage_registers(self):
        """Where the LATENCY - 2 registers after the bank flops go: a subset of "mux" (after
        the depth multiplexer), "syn" (after the syndromes), "fix" (after the first half of
        the correction, before the ce/ue decision). The fourth cycle goes to the longer
        logic: the multiplexer of an unguarded word in several banks, else the guard's
        decision (the guarded memories have one or two banks at the default size)."""
        if self.LATENCY == 2:
            return ()
        if self.LATENCY == 3:
            return ("syn",)
        if self.LATENCY == 4:
            several = len(self.banks) > 1 and not (self.ecc and self.code.guarded)
            return ("mux", "syn") if several else ("syn", "fix")
        return ("mux", "syn", "fix")

    def bank_names(self):
        """[(submodule name, first word, words)] of the banks, in address order."""
        if len(self.banks) == 1:
            return [("mem", 0, self.depth)]
        return [(f"mem{i}", base, mem.depth) for i, (base, mem) in enumerate(self.banks)]

    def bank_of(self, addr):
        """(Memory, row in it) of word `addr`."""
        if not 0 <= addr < self.depth:
            raise IndexError(f"word {addr} outside 0..{self.depth - 1}")
        base, memory = self.banks[addr // self.bank_depth]
        return memory, addr - base

    def elaborate(self, platform):
        m = Module()
        for (sub, _, _), (_, memory) in zip(self.bank_names(), self.banks):
            m.submodules[sub] = memory
        width = self.width
        nb = len(self.banks)
        obits = self.obits

        def client_writes(addr):
            return self.wr_en & (self.wr_addr == addr)

        def bank_index(addr):
            return addr[obits:] if nb > 1 else Const(0, 1)

        # --- client write, with a one-shot injection --------------------------
        inj_used = Signal()
        inject = Signal()
        m.d.comb += [
            inject.eq(self.wr_en & self.inj_arm & ~inj_used),
            self.inj_done.eq(inject),
        ]
        with m.If(~self.inj_arm):
            m.d.sync += inj_used.eq(0)
        with m.Elif(inject):
            m.d.sync += inj_used.eq(1)
        wr_code = word_encode(m, self.wr_data, self.code) if self.ecc else self.wr_data
        client_code = Signal(width)
        m.d.comb += client_code.eq(wr_code ^ Mux(inject, self.inj_mask[:min(width, CODE_BITS)], 0))

        # --- the write register: this cycle's write (client, else a scrub-back) -----
        # w_*: what is written this cycle; wq_*: registered, written to its bank next cycle
        w_en, w_addr, w_code = Signal(), Signal(self.abits), Signal(width)
        wq_en, wq_addr, wq_code = self.wq_en, self.wq_addr, self.wq_code
        wq_we = Signal(nb, name="wq_we")          # one-hot bank of the registered write
        m.d.sync += [wq_en.eq(w_en), wq_addr.eq(w_addr), wq_code.eq(w_code)]
        for i in range(nb):
            m.d.sync += wq_we[i].eq(w_en & (bank_index(w_addr) == i))
        for i, (wp, _) in enumerate(self._ports):
            m.d.comb += [wp.en.eq(wq_we[i]), wp.addr.eq(wq_addr[:obits] if obits else 0), wp.data.eq(wq_code)]

        # --- read pipeline -----------------------------------------------------
        # (valid, addr, stale) travel with each read. `stale`: the client wrote that
        # address after the RAM sampled it (a write in the read's own cycle is seen
        # through the write register), so the word must not be scrubbed back.
        for _, rp in self._ports:
            m.d.comb += [rp.addr.eq(self.rd_addr[:obits] if obits else 0), rp.en.eq(self.rd_en)]
        valid, addr, stale = Signal(name="s1_valid"), Signal(self.abits, name="s1_addr"), Const(0)
        m.d.sync += [valid.eq(self.rd_en), addr.eq(self.rd_addr)]
        for k in range(2, self.LATENCY + 1):
            nvalid, naddr, nstale = (Signal(name=f"s{k}_valid"), Signal(self.abits, name=f"s{k}_addr"),
                                     Signal(name=f"s{k}_stale"))
            m.d.sync += [nvalid.eq(valid), naddr.eq(addr), nstale.eq(stale | client_writes(addr))]
            valid, addr, stale = nvalid, naddr, nstale
        m.d.comb += [self.rd_valid.eq(valid), self.rd_addr_out.eq(addr), self.ev_addr.eq(addr)]

        def stage(value, name):
            reg = Signal.like(value, name=name)
            m.d.sync += reg.eq(value)
            return reg

        # cycle n: which bank, and whether the word comes from the write register instead:
        # the write entering it now (fwd_new) or the one in it, reaching the RAM now (fwd_old)
        s1_sel = stage(Cat(*(bank_index(self.rd_addr) == i for i in range(nb))), "s1_sel")
        fwd_new_now = Signal()              # the write entering the register hits rd_addr (set below)
        s1_fwd_new = stage(fwd_new_now, "s1_fwd_new")
        s1_fwd_old = stage(wq_en & (wq_addr == self.rd_addr), "s1_fwd_old")
        s1_old_code = stage(wq_code, "s1_old_code")
        # cycle n+1: every bank's output into its own plain flop (a flop with a reset or an
        # enable is placed further from its DP16KD); the forwarded word beside them, and its
        # syndromes, computed here from registered operands so that forwarding is a 2:1
        # choice after the read word's XOR trees rather than a mux in front of them
        s1_fwd = s1_fwd_new | s1_fwd_old
        banks_q = [stage(rp.data, f"s2_bank{i}") for i, (_, rp) in enumerate(self._ports)]
        s2_sel = stage(s1_sel, "s2_sel")
        s2_fwd = stage(s1_fwd, "s2_fwd")
        regs = self.stage_registers()
        fwd_word = Signal(width, name="s1_fwd_code")
        m.d.comb += fwd_word.eq(Mux(s1_fwd_new, wq_code, s1_old_code))
        s2_fwd_code = stage(fwd_word, "s2_fwd_code")
        guarded = self.ecc and self.code.guarded
        if self.ecc:
            s2_fwd_syn = stage(ecc_syndrome(fwd_word[:CODE_BITS]), "s2_fwd_syn")
            s2_fwd_gsyn = stage(guard_syndrome(fwd_word, self.code), "s2_fwd_gsyn") if guarded else None
        # cycle n+2: the depth multiplexer (AND-OR over the one-hot select), after the flops;
        # then the syndromes, the correction and the decision, with the LATENCY - 2 further
        # registers where `stage_registers()` puts them
        picked = Signal(width, name="s2_picked")
        m.d.comb += picked.eq(banks_q[0] if nb == 1 else
                              or_all([q & s2_sel[i].replicate(width) for i, q in enumerate(banks_q)]))
        fwd, fwd_code = s2_fwd, s2_fwd_code
        fwd_syn, fwd_gsyn = (s2_fwd_syn, s2_fwd_gsyn) if self.ecc else (None, None)
        if "mux" in regs:
            picked, fwd, fwd_code = stage(picked, "sm_picked"), stage(fwd, "sm_fwd"), stage(fwd_code, "sm_fwd_code")
            if self.ecc:
                fwd_syn = stage(fwd_syn, "sm_fwd_syn")
                fwd_gsyn = stage(fwd_gsyn, "sm_fwd_gsyn") if guarded else None
        code = Signal(width, name="s2_code")
        m.d.comb += code.eq(Mux(fwd, fwd_code, picked))
        if not self.ecc:
            for k in range(len(regs) - ("mux" in regs)):
                code = stage(code, f"sp{k}_code")
            m.d.comb += [self.rd_data.eq(code), w_en.eq(self.wr_en), w_addr.eq(self.wr_addr),
                         w_code.eq(client_code), fwd_new_now.eq(client_writes(self.rd_addr))]
            return m

        syn = Signal(CHECK_BITS, name="syndrome")
        gsyn = Signal(GUARD_BITS, name="guard_syndrome")
        if nb > 1 and "mux" not in regs:
            # the multiplexer shares this cycle: each bank's syndromes (they are linear), and
            # the select after the XOR trees rather than in front of them
            def picked_syndrome(fn, bits):
                return or_all([fn(q) & s2_sel[i].replicate(bits) for i, q in enumerate(banks_q)])
        else:
            def picked_syndrome(fn, bits):
                return fn(picked)
        m.d.comb += syn.eq(Mux(fwd, fwd_syn, picked_syndrome(lambda w: ecc_syndrome(w[:CODE_BITS]), CHECK_BITS)))
        if guarded:                                # beside the SECDED syndrome, not after it
            m.d.comb += gsyn.eq(Mux(fwd, fwd_gsyn, picked_syndrome(lambda w: guard_syndrome(w, self.code),
                                                                  GUARD_BITS)))
        if "syn" in regs:                          # XOR trees and column match in separate cycles
            code, syn = stage(code, "ss_code"), stage(syn, "ss_syn")
            if guarded:
                gsyn = stage(gsyn, "ss_gsyn")
        fix = correct_fix(m, code, syn, gsyn, self.code)
        if "fix" in regs:                          # the guard's decision in a cycle of its own
            fix = {k: stage(v, f"sf_{k}") for k, v in fix.items()}
            syn = stage(syn, "sf_syn")
        ce_raw, ue_raw, guard_raw = correct_decide(fix)
        corrected = fix["fixed"]
        ce = Signal()
        ue = Signal()
        m.d.comb += [
            ce.eq(valid & ce_raw),
            ue.eq(valid & ue_raw),
            self.rd_data.eq(corrected[:self.code.payload_bits]),     # guard bits read as zero
            self.rd_ce.eq(ce), self.rd_ue.eq(ue), self.rd_syndrome.eq(syn),
            self.ev_ce.eq(ce), self.ev_ue.eq(ue), self.ev_syndrome.eq(syn),
            self.ev_guard.eq(ue & guard_raw),
        ]

        # --- CE scrub-back ------------------------------------------------------------
        # scrub_* register the corrected word (timing: the decode does not also drive
        # the buffer's load logic); then a one-entry buffer waits for a cycle without a
        # client write. A client write to the address at any point drops it.
        scrub_ce = Signal(name="scrub_ce")
        scrub_addr = Signal(self.abits, name="scrub_addr")
        scrub_code = Signal(width, name="scrub_code")
        m.d.sync += [
            scrub_ce.eq(ce & ~stale & ~client_writes(addr)),
            scrub_addr.eq(addr),
            scrub_code.eq(corrected),
        ]
        buf_valid = Signal()
        buf_addr = Signal(self.abits)
        buf_code = Signal(width)
        drain = Signal()
        m.d.comb += [drain.eq(buf_valid & ~self.wr_en), self.busy_scrub.eq(buf_valid | scrub_ce)]
        with m.If(drain | (buf_valid & client_writes(buf_addr))):
            m.d.sync += buf_valid.eq(0)
        # the word is loaded whenever the buffer is free; only buf_valid waits for the
        # address compare (timing: the compare does not drive every bit's enable)
        load = scrub_ce & (~buf_valid | drain)
        with m.If(load):
            m.d.sync += [buf_addr.eq(scrub_addr), buf_code.eq(scrub_code)]
        with m.If(load & ~client_writes(scrub_addr)):
            m.d.sync += buf_valid.eq(1)

        m.d.comb += [
            w_en.eq(self.wr_en | buf_valid),
            w_addr.eq(Mux(self.wr_en, self.wr_addr, buf_addr)),
            w_code.eq(Mux(self.wr_en, client_code, buf_code)),
            # the client's and the buffer's address each compared, not their mux (timing)
            fwd_new_now.eq(Mux(self.wr_en, self.wr_addr == self.rd_addr, buf_valid & (buf_addr == self.rd_addr))),
        ]
        return m


# --- Amaranth-sim back door ------------------------------------------------------
# Word addresses; `mem` is an EccMemory (any number of banks) or a plain Memory. A word
# whose write is still in an EccMemory's write register is read there, and written
# there as well as in its bank (the register would otherwise overwrite the deposit).
def _row(mem, addr):
    if isinstance(mem, EccMemory):
        memory, offset = mem.bank_of(addr)
        return memory, memory.data[offset]
    return mem, mem.data[addr]


def _pending(ctx, mem, addr):
    return isinstance(mem, EccMemory) and ctx.get(mem.wq_en) and ctx.get(mem.wq_addr) == addr


def peek(ctx, mem, addr):
    """Raw stored word (codeword when ecc=True) of an EccMemory (or a Memory)."""
    if _pending(ctx, mem, addr):
        return ctx.get(mem.wq_code)
    return ctx.get(_row(mem, addr)[1])


def poke(ctx, mem, addr, value):
    """Overwrite a stored word behind the design's back."""
    if _pending(ctx, mem, addr):
        ctx.set(mem.wq_code, value)
    ctx.set(_row(mem, addr)[1], value)


async def flip(ctx, mem, addr, mask):
    """XOR `mask` (data 63:0, check 71:64, then any guard bits) into stored word `addr`; returns the new raw word."""
    memory = _row(mem, addr)[0]
    value = (peek(ctx, mem, addr) ^ mask) & ((1 << Shape.cast(memory.shape).width) - 1)
    poke(ctx, mem, addr, value)
    return value
