"""SECDED (72,64) as Amaranth expressions, built from `chimney.contract.ecc`.

Every XOR tree and comparator below is generated from the contract's `H_COLUMNS`
and `CHECK_MASKS`, so the RTL and the Python model cannot disagree. Codeword
layout: data in bits 63:0, check bits in 71:64.

Depth, for timing: check bits / syndrome are 27- or 28-input XORs (3 LUT4 levels);
the correction matches the 8-bit syndrome against each column and ce is an
8-input function of it (on ECP5 a LUT4 plus PFUMX/L6MUX levels), then one XOR.
With the guard the whole correction is about ten LUT levels: `correct_fix` (flip
applied, guard columns matched) and `correct_decide` (ce/ue) split it so a
register can go between them (`EccMemory`, latency 4 and 5).
Give `ecc_correct`/`ecc_decode` a syndrome held in a Signal: as an expression it
would be copied into all 72 comparators (harmless in hardware, slow in simulation).
"""

from amaranth.hdl import Cat, Const, Signal, Value

from chimney.contract.ecc import (CHECK_BITS, CHECK_MASKS, CODE_BITS, DATA_BITS, GUARD_BITS,
                                  GUARD_COLUMNS, H_COLUMNS, WordCode)

__all__ = ["DATA_BITS", "CHECK_BITS", "CODE_BITS", "ecc_check_bits", "ecc_encode",
           "ecc_syndrome", "ecc_correct", "ecc_decode",
           "guard_bits", "word_encode", "guard_syndrome", "guarded_correct", "correct_fix", "correct_decide"]


def ecc_check_bits(data):
    """64-bit data -> 8 check bits: check bit i is the parity of data & CHECK_MASKS[i]."""
    data = Value.cast(data)
    assert len(data) == DATA_BITS, len(data)
    return Cat(*(Cat(*(data[j] for j in range(DATA_BITS) if mask >> j & 1)).xor()
                 for mask in CHECK_MASKS))


def ecc_encode(data):
    """64-bit data -> 72-bit codeword, check bits in 71:64."""
    data = Value.cast(data)
    return Cat(data, ecc_check_bits(data))


def ecc_syndrome(code):
    """72-bit codeword -> 8-bit syndrome (0: no error seen)."""
    code = Value.cast(code)
    assert len(code) == CODE_BITS, len(code)
    return ecc_check_bits(code[:DATA_BITS]) ^ code[DATA_BITS:]


def ecc_correct(code, syndrome):
    """(72-bit codeword, its syndrome) -> (corrected 72-bit codeword, ce, ue).

    A syndrome equal to column j flips bit j (a check-bit column leaves the data as
    it is). Every column has odd weight, so matching a column implies odd weight;
    any other non-zero syndrome is uncorrectable and the word passes unchanged.
    """
    code = Value.cast(code)
    syndrome = Value.cast(syndrome)
    assert len(code) == CODE_BITS and len(syndrome) == CHECK_BITS
    flips = Cat(*(syndrome == Const(col, CHECK_BITS) for col in H_COLUMNS))
    ce = flips.any()
    ue = syndrome.any() & ~ce
    return code ^ flips, ce, ue


def ecc_decode(code, syndrome):
    """(72-bit codeword, its syndrome) -> (corrected 64-bit data, ce, ue).

    Bit-for-bit the same as `chimney.contract.ecc.ecc_decode` (ce <-> CORRECTED,
    ue <-> UNCORRECTABLE). Only the data-bit comparators are built.
    """
    code = Value.cast(code)
    syndrome = Value.cast(syndrome)
    assert len(code) == CODE_BITS and len(syndrome) == CHECK_BITS
    matches = [syndrome == Const(col, CHECK_BITS) for col in H_COLUMNS]
    ce = Cat(*matches).any()
    ue = syndrome.any() & ~ce
    return code[:DATA_BITS] ^ Cat(*matches[:DATA_BITS]), ce, ue


# --- the guard (chimney.contract.ecc.WordCode): meta words and pool entries -----------
def guard_bits(payload):
    """Payload (the word's low `len(payload)` bits) -> 16 guard bits, XOR trees of GUARD_COLUMNS."""
    payload = Value.cast(payload)
    return Cat(*(Cat(*(payload[j] for j in range(len(payload)) if GUARD_COLUMNS[j] >> b & 1)).xor()
                 for b in range(GUARD_BITS)))


def word_encode(m, data, code: WordCode):
    """64-bit data -> stored word of `code` (the data's top guard_in bits are replaced).

    Guarded: the guard bits are XORs of the payload, and the SECDED check bits XORs of the
    payload and guard bits, so every stored bit is one XOR over payload bits alone; each is
    built as that one tree (taken from `code.encode` of each payload bit: the code is
    linear), 3-4 LUT levels rather than the guard's trees feeding the SECDED trees."""
    data = Value.cast(data)
    if not code.guarded:
        return ecc_encode(data)
    payload = data[:code.payload_bits]
    units = [code.encode(1 << j) for j in range(code.payload_bits)]
    g = Signal(code.width - code.payload_bits, name="wr_check")   # guard and check bits, one Signal
    m.d.comb += g.eq(Cat(*(Cat(*(payload[j] for j in range(code.payload_bits) if units[j] >> k & 1)).xor()
                           for k in range(code.payload_bits, code.width))))
    return Cat(payload, g)


def guard_syndrome(stored, code: WordCode):
    """Stored word -> 16-bit guard syndrome (computed beside the SECDED syndrome)."""
    stored = Value.cast(stored)
    return guard_bits(stored[:code.payload_bits]) ^ Cat(stored[code.payload_bits:DATA_BITS], stored[CODE_BITS:])


def _syndrome_table(syndrome, ones):
    """1-bit function of the 8-bit syndrome: 1 for the syndromes in `ones` whose value is 1."""
    table = sum(1 << syn for syn, bit in ones.items() if bit)
    return Const(table, 1 << CHECK_BITS).bit_select(syndrome, 1)


def _one_bit_in(value, lo):
    """Exactly one bit of `value` set, and it is at `lo` or above (ext.any() of
    `correct_fix`, built nibble by nibble: 'none' and 'exactly one' per nibble, then one
    nibble with one and the rest with none; three LUT levels instead of sixteen compares)."""
    value = Value.cast(value)
    allowed = Cat(*(value[i] if i >= lo else Const(0, 1) for i in range(len(value))))
    low_clear = ~value[:lo].any() if lo else Const(1, 1)
    nibbles = [allowed[k:k + 4] for k in range(0, len(value), 4)]
    none = [~n.any() for n in nibbles]
    one = [Cat(*(n[i] & ~Cat(*(n[j] for j in range(len(n)) if j != i)).any() for i in range(len(n)))).any()
           for n in nibbles]
    exactly = Cat(*(one[k] & Cat(*(none[j] for j in range(len(nibbles)) if j != k)).all()
                    for k in range(len(nibbles)))).any()
    return exactly & low_clear


def correct_fix(m, stored, syndrome, gsyn, code):
    """First half of the correction, from the stored word and its syndromes: the word
    with the single-bit flip applied, and the facts the decision needs. Returns a dict:
    fixed, flip_any (the SECDED syndrome is a column), sec_nz, and with a guard ok_parts
    (a SECDED column match whose guard column the guard syndrome is, ORed in groups of
    four bits), ext_any (a guard bit beside the 72 flipped alone), g_nz. `code` None or unguarded: SECDED only (gsyn unused).
    Every value is a Signal of `m` (register them to cut the correction in two)."""
    stored, syndrome = Value.cast(stored), Value.cast(syndrome)
    guarded = code is not None and code.guarded
    flips = Signal(CODE_BITS, name="flips")
    m.d.comb += flips.eq(Cat(*(syndrome == Const(col, CHECK_BITS) for col in H_COLUMNS)))
    out = {"flip_any": Signal(name="flip_any"), "sec_nz": Signal(name="sec_nz"),
           "fixed": Signal(len(stored), name="fixed")}
    # flip_any as what it is, an 8-input function of the syndrome (a table lookup), not an
    # OR over the 72 compares: about half the LUT levels
    m.d.comb += [out["flip_any"].eq(_syndrome_table(syndrome, {col: 1 for col in H_COLUMNS})),
                 out["sec_nz"].eq(syndrome.any())]
    if not guarded:
        m.d.comb += out["fixed"].eq(stored ^ flips)
        return out
    gsyn = Value.cast(gsyn)
    # A SECDED column match is taken only when the guard syndrome is that bit's guard column:
    # per bit, the 24-bit (syndrome, guard syndrome) pair against its constant pair, ORed in
    # fours here (`ok_parts`) and across the fours in `correct_decide` (shallower than
    # looking the guard column up from the syndrome and comparing it: abc makes that 6 LUT
    # levels, and the whole correction about ten)
    match = Signal(CODE_BITS, name="guard_match")
    m.d.comb += match.eq(Cat(*(flips[j] & (gsyn == Const(code.guard_of_bit(j), GUARD_BITS))
                               for j in range(CODE_BITS))))
    ok_parts = Signal(-(-CODE_BITS // 4), name="guard_ok_parts")
    m.d.comb += ok_parts.eq(Cat(*(match[k:k + 4].any() for k in range(0, CODE_BITS, 4))))
    sec_clean = ~syndrome.any()
    ext = Signal(max(code.guard_ext, 1), name="guard_ext_flips")
    if code.guard_ext:
        m.d.comb += ext.eq(Cat(*(sec_clean & (gsyn == Const(1 << i, GUARD_BITS))
                                 for i in range(code.guard_in, GUARD_BITS))))
    fixed = Cat(stored[:CODE_BITS] ^ flips, stored[CODE_BITS:] ^ ext[:code.guard_ext]) if code.guard_ext \
        else stored ^ flips
    out.update(ok_parts=ok_parts, ext_any=Signal(name="ext_any"), g_nz=Signal(name="g_nz"))
    m.d.comb += [out["fixed"].eq(fixed), out["ext_any"].eq(sec_clean & _one_bit_in(gsyn, code.guard_in)),
                 out["g_nz"].eq(gsyn.any())]
    return out


def correct_decide(fix):
    """Second half: (ce, ue, guard_ue) from `correct_fix`'s values (registered or not).
    The same decision as `WordCode.decode`: a SECDED column match corrects only if the
    guard agrees; with a clean SECDED syndrome, a guard syndrome of one bit stored beside
    the 72 is that bit flipped; anything else non-zero is uncorrectable; `guard_ue` marks
    those SECDED alone would have accepted."""
    if "ok_parts" not in fix:
        ce = fix["flip_any"]
        return ce, fix["sec_nz"] & ~ce, Const(0, 1)
    ce = fix["ok_parts"].any() | fix["ext_any"]
    ue = (fix["sec_nz"] | fix["g_nz"]) & ~ce
    sec_ue = fix["sec_nz"] & ~fix["flip_any"]
    return ce, ue, ue & ~sec_ue


def guarded_correct(m, stored, syndrome, gsyn, code: WordCode):
    """(stored word, SECDED syndrome, guard syndrome) -> (corrected stored word, ce, ue, guard_ue),
    in one cycle: `correct_decide(correct_fix(...))`. The match vector and the fixed-up guard
    syndrome are Signals (module `m`): as expressions they would be copied into every use."""
    fix = correct_fix(m, stored, syndrome, gsyn, code)
    return (fix["fixed"], *correct_decide(fix))
