"""SECDED (72,64) as Amaranth expressions, built from `chimney.contract.ecc`.

Every XOR tree and comparator below is generated from the contract's `H_COLUMNS`
and `CHECK_MASKS`, so the RTL and the Python model cannot disagree. Codeword
layout: data in bits 63:0, check bits in 71:64.

Depth, for timing: check bits / syndrome are 27- or 28-input XORs (3 LUT4 levels);
the correction matches the 8-bit syndrome against each column and ce is an
8-input function of it (on ECP5 a LUT4 plus PFUMX/L6MUX levels), then one XOR.
Give `ecc_correct`/`ecc_decode` a syndrome held in a Signal: as an expression it
would be copied into all 72 comparators (harmless in hardware, slow in simulation).
"""

from amaranth.hdl import Cat, Const, Signal, Value

from chimney.contract.ecc import (CHECK_BITS, CHECK_MASKS, CODE_BITS, DATA_BITS, GUARD_BITS,
                                  GUARD_COLUMNS, H_COLUMNS, WordCode)

__all__ = ["DATA_BITS", "CHECK_BITS", "CODE_BITS", "ecc_check_bits", "ecc_encode",
           "ecc_syndrome", "ecc_correct", "ecc_decode",
           "guard_bits", "word_encode", "guard_syndrome", "guarded_correct"]


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
    The guard bits are a Signal of module `m`, so the SECDED trees over them do not copy them."""
    data = Value.cast(data)
    if not code.guarded:
        return ecc_encode(data)
    payload = data[:code.payload_bits]
    g = Signal(GUARD_BITS, name="wr_guard")
    m.d.comb += g.eq(guard_bits(payload))
    return Cat(ecc_encode(Cat(payload, g[:code.guard_in])), g[code.guard_in:])


def guard_syndrome(stored, code: WordCode):
    """Stored word -> 16-bit guard syndrome (computed beside the SECDED syndrome)."""
    stored = Value.cast(stored)
    return guard_bits(stored[:code.payload_bits]) ^ Cat(stored[code.payload_bits:DATA_BITS], stored[CODE_BITS:])


def guarded_correct(m, stored, syndrome, gsyn, code: WordCode):
    """(stored word, SECDED syndrome, guard syndrome) -> (corrected stored word, ce, ue, guard_ue).

    The same decision as `WordCode.decode`: a SECDED column match corrects only if the
    guard syndrome is that bit's guard column; with a clean SECDED syndrome, a guard
    syndrome of one bit stored beside the 72 is that bit flipped. Anything else non-zero
    is uncorrectable; `guard_ue` marks those SECDED alone would have accepted. The match
    vector and the fixed-up guard syndrome are Signals (module `m`): as expressions they
    would be copied into every use, tenfold the Verilog."""
    stored, syndrome, gsyn = Value.cast(stored), Value.cast(syndrome), Value.cast(gsyn)
    flips = Signal(CODE_BITS, name="guard_flips")
    m.d.comb += flips.eq(Cat(*(syndrome == Const(col, CHECK_BITS) for col in H_COLUMNS)))
    # the guard syndrome once the SECDED flip is applied (flips is one-hot or zero)
    gfix = Signal(GUARD_BITS, name="guard_fixed")
    m.d.comb += gfix.eq(Cat(*(gsyn[b] ^ Cat(*(flips[j] for j in range(CODE_BITS)
                                                if code.guard_of_bit(j) >> b & 1)).any()
                              for b in range(GUARD_BITS))))
    sec_clean = ~syndrome.any()
    ext = Signal(max(code.guard_ext, 1), name="guard_ext_flips")
    if code.guard_ext:
        m.d.comb += ext.eq(Cat(*(sec_clean & (gsyn == Const(1 << i, GUARD_BITS))
                                 for i in range(code.guard_in, GUARD_BITS))))
    ce = (flips.any() & ~gfix.any()) | ext.any()
    ue = (syndrome.any() | gsyn.any()) & ~ce
    sec_ue = syndrome.any() & ~flips.any()
    fixed = Cat(stored[:CODE_BITS] ^ flips, stored[CODE_BITS:] ^ ext[:code.guard_ext]) if code.guard_ext \
        else stored ^ flips
    return fixed, ce, ue, ue & ~sec_ue
