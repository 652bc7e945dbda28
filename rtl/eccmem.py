"""One SECDED-protected word memory: encode on write, check and correct on read,
write corrected words back, and flip chosen bits of the next write on request.

Read pipeline, one read per cycle; rd_valid comes LATENCY cycles after rd_en:

    cycle n     rd_en, rd_addr -> block-RAM synchronous read port
    cycle n+1   RAM output -> register (raw codeword, nothing in between)
    latency 2:  cycle n+2   syndrome + compare + correct, combinational -> rd_*
    latency 3:  cycle n+2   syndrome -> register;  n+3  compare + correct -> rd_*
    latency 4:  as 3, and the decoded rd_* are registered (outputs straight from flops)

Timing (measured with yowasp yosys + nextpnr-ecp5, LFE5U-85F, 1024 words, inputs
and outputs registered): the EBR clock-to-out without its output register is
5.8 ns at speed -6 and 4.3 ns at -8, and the transparent-read bypass adds a LUT,
so even a bare RAM -> flop path reaches only ~142 MHz at -6 (~183 MHz at -8):
150 MHz needs a -8 part whatever the decode. After that flop the decode is a
27/28-input XOR tree (3 LUT4 levels) plus an 8-input column match (several mux
levels). At -8: latency 2 ~95 MHz (both in one cycle), latency 3 ~151-168 MHz
(rd_* still combinational: little room for the consumer), latency 4 ~176 MHz
(limited by the RAM -> flop path). rd_* are combinational for latency 2 and 3.

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
"""

from amaranth.hdl import Const, Module, Mux, Shape, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from chimney.contract.ecc import GUARD_BITS, SECDED, WordCode

from .ecc import (CHECK_BITS, CODE_BITS, DATA_BITS, ecc_correct, ecc_syndrome, guard_syndrome,
                  guarded_correct, word_encode)

__all__ = ["EccMemory", "peek", "poke", "flip"]


class EccMemory(wiring.Component):
    """ECC word memory; `self.memory` is the `lib.memory.Memory`, elaborated as submodule `mem`."""

    LATENCY = 2

    def __init__(self, depth, *, ecc=True, name="mem", latency=2, guard_in=None):
        if depth < 1:
            raise ValueError("depth must be at least 1")
        if latency not in (2, 3, 4):
            raise ValueError("latency must be 2, 3 or 4")
        self.LATENCY = latency               # instance value shadows the class default
        self.depth = depth
        self.ecc = bool(ecc)
        self.name = name                     # logical name (e.g. a chimney.contract.MEMORIES entry)
        self.abits = abits = max(1, (depth - 1).bit_length())
        # guard_in not None: the word also carries the 16-bit guard (meta words, pool entries)
        self.code = (WordCode(guard_in) if guard_in is not None else SECDED) if self.ecc else None
        self.width = self.code.width if self.ecc else DATA_BITS
        self.memory = Memory(shape=self.width, depth=depth, init=[])   # all-zero is a valid codeword
        # Ports are made here, not in elaborate(), so elaborating twice cannot add ports twice.
        self._wp = self.memory.write_port()
        self._rp = self.memory.read_port(transparent_for=(self._wp,))
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

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = self.memory
        wp, rp = self._wp, self._rp
        width = self.width

        def client_writes(addr):
            return self.wr_en & (self.wr_addr == addr)

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

        # --- read pipeline -----------------------------------------------------
        # (valid, addr, stale) travel with each read. `stale`: the client wrote that
        # address after the RAM sampled it (a write in the read's own cycle is seen
        # through transparency), so the word must not be scrubbed back.
        m.d.comb += [rp.addr.eq(self.rd_addr), rp.en.eq(self.rd_en)]
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

        code = stage(rp.data, "s2_code")         # the RAM output goes straight into a flop
        if not self.ecc:
            for k in range(3, self.LATENCY + 1):
                code = stage(code, f"s{k}_code")
            m.d.comb += [
                self.rd_data.eq(code),
                wp.en.eq(self.wr_en), wp.addr.eq(self.wr_addr), wp.data.eq(client_code),
            ]
            return m

        guarded = self.code.guarded
        syn = Signal(CHECK_BITS, name="syndrome")
        gsyn = Signal(GUARD_BITS, name="guard_syndrome")
        m.d.comb += syn.eq(ecc_syndrome(code[:CODE_BITS]))
        if guarded:                                # beside the SECDED syndrome, not after it
            m.d.comb += gsyn.eq(guard_syndrome(code, self.code))
        if self.LATENCY >= 3:                      # XOR trees and column match in separate cycles
            code, syn = stage(code, "s3_code"), stage(syn, "s3_syn")
            if guarded:
                gsyn = stage(gsyn, "s3_gsyn")
        corrected = Signal(width, name="corrected")
        ce_raw = Signal(name="ce_raw")
        ue_raw = Signal(name="ue_raw")
        guard_raw = Signal(name="guard_ue_raw")
        if guarded:
            fixed, fixed_ce, fixed_ue, fixed_guard = guarded_correct(m, code, syn, gsyn, self.code)
            m.d.comb += guard_raw.eq(fixed_guard)
        else:
            fixed, fixed_ce, fixed_ue = ecc_correct(code, syn)
        m.d.comb += [corrected.eq(fixed), ce_raw.eq(fixed_ce), ue_raw.eq(fixed_ue)]
        if self.LATENCY == 4:                      # registered outputs
            corrected, ce_raw, ue_raw, syn, guard_raw = (
                stage(corrected, "s4_corrected"), stage(ce_raw, "s4_ce"), stage(ue_raw, "s4_ue"),
                stage(syn, "s4_syn"), stage(guard_raw, "s4_guard_ue"))
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
        with m.If(scrub_ce & ~client_writes(scrub_addr) & (~buf_valid | drain)):
            m.d.sync += [buf_valid.eq(1), buf_addr.eq(scrub_addr), buf_code.eq(scrub_code)]

        m.d.comb += [
            wp.en.eq(self.wr_en | buf_valid),
            wp.addr.eq(Mux(self.wr_en, self.wr_addr, buf_addr)),
            wp.data.eq(Mux(self.wr_en, client_code, buf_code)),
        ]
        return m


# --- Amaranth-sim back door ------------------------------------------------------
def _memory(mem):
    return getattr(mem, "memory", mem)


def peek(ctx, mem, addr):
    """Raw stored word (codeword when ecc=True) of an EccMemory (or a Memory)."""
    return ctx.get(_memory(mem).data[addr])


def poke(ctx, mem, addr, value):
    """Overwrite a stored word behind the design's back."""
    ctx.set(_memory(mem).data[addr], value)


async def flip(ctx, mem, addr, mask):
    """XOR `mask` (data 63:0, check 71:64, then any guard bits) into stored word `addr`; returns the new raw word."""
    memory = _memory(mem)
    value = (ctx.get(memory.data[addr]) ^ mask) & ((1 << Shape.cast(memory.shape).width) - 1)
    ctx.set(memory.data[addr], value)
    return value
