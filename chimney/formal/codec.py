"""The codecs: SECDED (72,64) of `rtl.ecc` and the CRC-32C step of `rtl.crc`.

secded   For a free 64-bit data word d and free bit positions i != j < 72 (AnyConst:
         the solver ranges over all 2^64 words and all positions, an exhaustive SAT
         proof, not sampling): the clean codeword decodes to d with no error flag; the
         codeword with bit i flipped has a non-zero syndrome, decodes to d, ce=1, ue=0,
         and `ecc_correct` restores the whole 72-bit codeword; with bits i and j
         flipped, ue=1 and ce=0. Combinational, so depth 1 covers every case.
crc32c   `crc32c_step` (the raw-register step the engine and scrubber use) and
         `CrcAccumulator` run in lockstep with amaranth.lib.crc's CRC32_ISCSI
         Processor (data_width=64) on free words, starts and steps; their outputs are
         asserted equal in every cycle. k-induction from an arbitrary state where the
         outputs agree (they are bijections of the registers) proves the steps equal
         for every register value and every word.

Mutants: secded `check_bit_stuck` (check bit 0 of the codeword stuck at 0, as a
broken RAM column), `syndrome_mixes_data` (a decoder fed a syndrome with a data bit
mixed in) and `no_ue` (a decoder that reports double errors as corrected);
crc32c `byte_swapped` (the word fed big-endian) and `drop_top_bit` (a step ignoring bit 31).
"""

from amaranth.hdl import Assert, Assume, Cover, Const, Elaboratable, Module, Mux, Signal, ClockDomain
from amaranth.lib.crc import catalog

from chimney.rtl.crc import CRC_INIT, CRC_XOROUT, CrcAccumulator, crc32c_step
from chimney.rtl.ecc import CODE_BITS, ecc_correct, ecc_decode, ecc_encode, ecc_syndrome

from .rules import AnyConst, free

SECDED_MUTANTS = {"check_bit_stuck": "check bit 0 of the stored codeword stuck at 0",
                  "syndrome_mixes_data": "the stored word's decoder sees a syndrome with data bit 0 mixed in",
                  "no_ue": "double errors reported as corrected (ue never set)"}
CRC_MUTANTS = {"byte_swapped": "the 64-bit word fed to crc32c_step big-endian",
               "drop_top_bit": "a step that ignores the register's bit 31"}


class SecdedHarness(Elaboratable):
    """Three parts (separate solver runs, assume-guarantee), together every data word
    and every error of weight 0, 1 or 2:

    syndrome  for a free data word d and a free 72-bit error pattern e (SAT over all):
              syndrome(encode(d) ^ e) == syndrome(e);
    decode    the same free d and e, assuming that equality (proven by `syndrome`):
              decoding encode(d) ^ e gives the flags of decoding e alone, data
              d ^ (data decoded from e), and `ecc_correct` gives encode(d) ^ its result on e;
    errors    for every free e of weight 0, 1 or 2 (d = 0: by the two parts above this
              covers every d): weight 0 decodes clean; weight 1 has a non-zero syndrome,
              ce=1, ue=0, decoded data 0 and `ecc_correct` gives 0 (the error removed);
              weight 2 has ue=1, ce=0.
    One run over free d and weight-constrained e does not finish in minutes (the XOR
    trees defeat the SAT solver when mixed); split, the three take about 30 s.
    """

    def __init__(self, part, mutant=None):
        assert part in ("syndrome", "decode", "errors")
        assert mutant in (None, *SECDED_MUTANTS), mutant
        self.part = part
        self.mutant = mutant
        self.ports = []

    def _decode(self, m, word, syn):
        data, ce, ue = ecc_decode(word, syn)
        fixed, ce2, ue2 = ecc_correct(word, syn)
        if self.mutant == "no_ue":
            ce, ue, ce2, ue2 = ce | ue, Const(0), ce2 | ue2, Const(0)
        return data, ce, ue, fixed, ce2, ue2

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = cd = ClockDomain()
        self.ports = [cd.clk, cd.rst]
        d = Signal(64, name="data")
        e = Signal(CODE_BITS, name="error")
        m.d.comb += [d.eq(0 if self.part == "errors" else AnyConst(64)), e.eq(AnyConst(CODE_BITS))]
        weight = Signal(range(CODE_BITS + 1), name="weight")
        m.d.comb += weight.eq(sum(e[k] for k in range(CODE_BITS)))
        code = Signal(CODE_BITS, name="code")
        m.d.comb += code.eq(ecc_encode(d))
        if self.mutant == "check_bit_stuck":
            m.d.comb += code[64].eq(0)
        word = Signal(CODE_BITS, name="word")
        m.d.comb += word.eq(code ^ e)
        s1, s2 = Signal(8, name="syn_word"), Signal(8, name="syn_error")
        m.d.comb += [s1.eq(ecc_syndrome(word)), s2.eq(ecc_syndrome(e))]
        if self.part == "syndrome":
            m.d.comb += Assert(s1 == s2, "syndrome of encode(d)^e is the syndrome of e")
            m.d.comb += [Cover((weight == 1) & (s1 != 0)), Cover((d != 0) & (e == 0))]
        elif self.part == "decode":
            m.d.comb += Assume(s1 == s2)
            s1d = s1 ^ word[0] if self.mutant == "syndrome_mixes_data" else s1
            d1, ce1, ue1, f1, cc1, cu1 = self._decode(m, word, s1d)
            d2, ce2, ue2, f2, cc2, cu2 = self._decode(m, e, s2)
            m.d.comb += [
                Assert(d1 == (d ^ d2), "decoded data of encode(d)^e is d ^ decoded data of e"),
                Assert((ce1 == ce2) & (ue1 == ue2), "flags of encode(d)^e are the flags of e"),
                Assert(f1 == (code ^ f2), "ecc_correct(encode(d)^e) is encode(d) ^ ecc_correct(e)"),
                Assert((cc1 == cc2) & (cu1 == cu2), "ecc_correct flags of encode(d)^e are those of e"),
            ]
            m.d.comb += [Cover((weight == 1) & ce1 & (d1 == d)), Cover((weight == 2) & ue1)]
        else:
            m.d.comb += Assume(weight <= 2)
            dd, ce, ue, fixed, cc, cu = self._decode(m, word, s1)
            with m.If(weight == 0):
                m.d.comb += Assert((s1 == 0) & (dd == 0) & ~ce & ~ue, "clean word: syndrome 0, no flag")
            with m.If(weight == 1):
                m.d.comb += Assert((s1 != 0) & (dd == 0) & ce & ~ue & (fixed == 0) & cc & ~cu,
                                   "single flip: corrected")
            with m.If(weight == 2):
                m.d.comb += Assert(ue & ~ce & cu & ~cc, "double flip: flagged uncorrectable")
            m.d.comb += [Cover((weight == 1) & e[71]), Cover((weight == 1) & e[0]),
                         Cover((weight == 2) & e[63] & e[64])]
        return m


class Crc32cHarness(Elaboratable):
    """crc32c_step, the raw-register step the engine and scrubber use, against the step of
    amaranth.lib.crc's CRC32_ISCSI Processor (data_width=64): the Processor's own next-state
    matrices, with its input and register reflection, built here as the same XOR network
    `Processor.elaborate` builds (the Processor itself can only start from CRC_INIT, so
    it cannot be given an arbitrary register value). Both steps are linear over GF(2) in
    (register, word): each is an XOR network. Equality on a basis is equality everywhere,
    and the run covers one: every (register, word) of weight <= 1 over the 96 input bits
    (AnyConst), i.e. the zero input and all 96 unit inputs. A single SAT run over free
    96-bit inputs does not finish in 10 minutes: XOR equivalence is the SAT solver's worst
    case. A lockstep simulation of CrcAccumulator and the Processor from CRC_INIT is in
    tests/test_formal.py."""

    def __init__(self, mutant=None):
        assert mutant in (None, *CRC_MUTANTS), mutant
        self.mutant = mutant
        self.ports = []

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = cd = ClockDomain()
        self.ports = [cd.clk, cd.rst]
        state, word = Signal(32, name="state"), Signal(64, name="word")
        m.d.comb += [state.eq(AnyConst(32)), word.eq(AnyConst(64))]
        weight = Signal(7, name="weight")
        m.d.comb += weight.eq(sum(state[k] for k in range(32)) + sum(word[k] for k in range(64)))
        m.d.comb += Assume(weight <= 1)
        fed = word
        if self.mutant == "byte_swapped":
            fed = Signal(64, name="word_be")
            for k in range(8):
                m.d.comb += fed[8 * k:8 * k + 8].eq(word[56 - 8 * k:64 - 8 * k])
        mine = Signal(32, name="crc32c_step")
        m.d.comb += mine.eq(crc32c_step(state, fed))
        if self.mutant == "drop_top_bit":       # a step that forgets the register's top bit
            m.d.comb += mine.eq(crc32c_step(state & 0x7FFF_FFFF, fed))

        ref = catalog.CRC32_ISCSI(data_width=64).create()
        ref._MustUse__silence = True            # only its matrices and reflection are used
        f, g = ref._matrix_f, ref._matrix_g
        algo = ref._crc_width, ref._data_width
        reg = state[::-1] if ref._reflect_output else state        # the Processor's register
        data_in = word[::-1] if ref._reflect_input else word
        nxt = Signal(32, name="ref_next")
        for i in range(algo[0]):
            bit = Const(0, 1)
            for j in range(algo[0]):
                if f[j][i]:
                    bit = bit ^ reg[j]
            for j in range(algo[1]):
                if g[j][i]:
                    bit = bit ^ data_in[j]
            m.d.comb += nxt[i].eq(bit)
        theirs = Signal(32, name="ref_step")
        m.d.comb += theirs.eq(nxt[::-1] if ref._reflect_output else nxt)
        m.d.comb += Assert(mine == theirs, "crc32c_step == CRC32_ISCSI step")
        m.d.comb += [Cover(word[63] & (weight == 1)), Cover(state[31] & (weight == 1)), Cover(weight == 0)]
        return m


def proofs(Proof):
    return [
        *(Proof(f"secded_{part}", (lambda part: lambda mutant=None: SecdedHarness(part, mutant))(part),
                "bmc", 1, 1, {k: v for k, v in SECDED_MUTANTS.items() if k in muts}, quick=True,
                why="combinational (no state): one step covers every input, so BMC depth 1 is a "
                    "complete proof")
          for part, muts in (("syndrome", ("check_bit_stuck",)), ("decode", ("syndrome_mixes_data",)),
                             ("errors", ("no_ue",)))),
        Proof("crc32c", lambda mutant=None: Crc32cHarness(mutant), "bmc", 1, 1, CRC_MUTANTS, quick=True,
              why="combinational (no state): one step covers every input, so BMC depth 1 is a "
                  "complete proof"),
    ]
