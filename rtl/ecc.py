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

from amaranth.hdl import Cat, Const, Value

from chimney.contract.ecc import CHECK_BITS, CHECK_MASKS, CODE_BITS, DATA_BITS, H_COLUMNS

__all__ = ["DATA_BITS", "CHECK_BITS", "CODE_BITS", "ecc_check_bits", "ecc_encode",
           "ecc_syndrome", "ecc_correct", "ecc_decode"]


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
