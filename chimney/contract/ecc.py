"""The integrity codes, defined once: SECDED on every stored word, CRC-32C over each row.

SECDED is a Hsiao (72,64) code: every column of the parity-check matrix has odd
weight, so a single flipped bit gives an odd-weight syndrome equal to its column
(correctable), and two flipped bits give a non-zero even-weight syndrome
(detected). Three or more flips can alias to a single-bit syndrome; the row CRC
(CRC-32C over a row's static words and its host handle) catches those before any
state leaves the engine. The RTL builds its XOR trees from `H_COLUMNS` and
`crc_matrices()`, so hardware and model cannot disagree.
"""

from itertools import combinations
from enum import IntEnum

DATA_BITS = 64
CHECK_BITS = 8
CODE_BITS = DATA_BITS + CHECK_BITS


def _columns():
    weight3 = [sum(1 << b for b in c) for c in combinations(range(CHECK_BITS), 3)]
    weight5 = [((0b00011111 << r) | (0b00011111 >> (CHECK_BITS - r))) & 0xFF
               for r in range(CHECK_BITS)]
    data_cols = weight3 + weight5                   # 56 + 8 = 64, each row weight 26
    check_cols = [1 << i for i in range(CHECK_BITS)]
    cols = data_cols + check_cols
    assert len(cols) == CODE_BITS and len(set(cols)) == CODE_BITS
    assert all(bin(c).count("1") % 2 == 1 for c in cols)
    return tuple(cols)


#: H_COLUMNS[j] is the syndrome produced by flipping codeword bit j
#: (bits 0..63 data, 64..71 check bits).
H_COLUMNS = _columns()
_SYNDROME_TO_BIT = {c: j for j, c in enumerate(H_COLUMNS)}

#: CHECK_MASKS[i]: the data bits XORed into check bit i.
CHECK_MASKS = tuple(sum(1 << j for j in range(DATA_BITS) if H_COLUMNS[j] >> i & 1)
                    for i in range(CHECK_BITS))


class EccStatus(IntEnum):
    OK = 0
    CORRECTED = 1          # single-bit error, data corrected
    UNCORRECTABLE = 2      # detected, data not trustworthy


def ecc_check_bits(data):
    return sum((bin(data & m).count("1") & 1) << i for i, m in enumerate(CHECK_MASKS))


def ecc_encode(data):
    """64-bit data -> 72-bit codeword (check bits in 71:64)."""
    assert 0 <= data < 1 << DATA_BITS
    return data | ecc_check_bits(data) << DATA_BITS


def ecc_syndrome(code):
    data = code & ((1 << DATA_BITS) - 1)
    return ecc_check_bits(data) ^ (code >> DATA_BITS)


def ecc_decode(code):
    """72-bit codeword -> (data, EccStatus, syndrome). Data is corrected when it can be."""
    syn = ecc_syndrome(code)
    if syn == 0:
        return code & ((1 << DATA_BITS) - 1), EccStatus.OK, 0
    if bin(syn).count("1") % 2 == 1 and syn in _SYNDROME_TO_BIT:
        code ^= 1 << _SYNDROME_TO_BIT[syn]
        return code & ((1 << DATA_BITS) - 1), EccStatus.CORRECTED, syn
    return code & ((1 << DATA_BITS) - 1), EccStatus.UNCORRECTABLE, syn


# --- CRC-32C (Castagnoli), reflected, over 64-bit little-endian words --------
CRC_POLY_REFLECTED = 0x82F63B78
CRC_INIT = 0xFFFFFFFF
CRC_XOROUT = 0xFFFFFFFF


def crc_step(state, word, nbytes=8):
    """Advance the raw CRC register by one little-endian word of `nbytes` bytes."""
    for i in range(nbytes):
        state ^= (word >> (8 * i)) & 0xFF
        for _ in range(8):
            state = (state >> 1) ^ (CRC_POLY_REFLECTED if state & 1 else 0)
    return state


def crc32c_bytes(data):
    state = CRC_INIT
    for b in bytes(data):
        state = crc_step(state, b, 1)
    return state ^ CRC_XOROUT


def row_crc(words, host_handle):
    """The row check value: CRC-32C over the static words then the host handle."""
    state = CRC_INIT
    for w in words:
        state = crc_step(state, w)
    state = crc_step(state, host_handle & 0xFFFFFFFF)
    return state ^ CRC_XOROUT


def crc_matrices():
    """(state_cols, data_cols): next = XOR of state_cols[i] for set state bit i,
    XOR data_cols[j] for set word bit j. The raw step is linear in both."""
    state_cols = [crc_step(1 << i, 0) for i in range(32)]
    data_cols = [crc_step(0, 1 << j) for j in range(64)]
    return state_cols, data_cols


# --- the guard: 16 more check bits on meta words and pool entries ------------------
# SECDED alone takes a word with three or more flipped bits for a single-bit error
# about a quarter of the time and "corrects" it into another valid-looking word. Data
# and ident words have the row CRC behind them; meta words and pool entries, which
# change with every command, have this guard instead: 16 check bits of a shortened
# cyclic code over the word, so that the stored word is a codeword of SECDED and the
# guard together. Where the layout leaves bits free at the top of the 64-bit word the
# guard sits there (`guard_in` bits); the rest (`16 - guard_in`) are stored beside the
# 72 SECDED bits. A read corrects what the combined code calls a single-bit error and
# calls everything else uncorrectable, so every error of up to four bits is detected
# and a wider one passes only if it lands within one bit of another codeword
# (about 89 in 2^24 for a random word). tests/test_contract.py checks the minimum
# distance (6) for every split.

GUARD_BITS = 16
GUARD_POLY = 0x3D65        # CRC-16/DNP generator; the distance 6 above holds for every split with it


def _guard_columns():
    cols, r = [], 1
    for j in range(16 + DATA_BITS):        # x^(16+j) mod g(x): column of data bit j
        if j >= 16:
            cols.append(r)
        r <<= 1
        if r >> GUARD_BITS:
            r ^= (1 << GUARD_BITS) | GUARD_POLY
    return tuple(cols)


#: GUARD_COLUMNS[j]: the guard syndrome bits flipped by data bit j of the payload.
GUARD_COLUMNS = _guard_columns()


class UeKind(IntEnum):
    """ECC_LAST_UE_SYN.KIND: what found an uncorrectable word."""
    NONE = 0
    SECDED = 1             # SECDED alone: a double (or worse) error
    CRC = 2                # the row CRC over data words and host handle
    GUARD = 3              # the guard of a meta word or pool entry (SECDED alone would have taken it)


def guard_value(payload, payload_bits):
    g = 0
    for j in range(payload_bits):
        if payload >> j & 1:
            g ^= GUARD_COLUMNS[j]
    return g


class WordCode:
    """How one memory stores a 64-bit word: SECDED (72,64), optionally with the guard.

    Stored layout: bits 63:0 the word (its top `guard_in` bits hold guard bits 0..guard_in-1),
    71:64 the SECDED check bits over those 64 bits, then guard bits guard_in..15 (`guard_ext`
    of them). Clients see the word with the guard bits as zero."""

    def __init__(self, guard_in=None):
        self.guarded = guard_in is not None
        self.guard_in = guard_in or 0
        if not 0 <= self.guard_in <= GUARD_BITS:
            raise ValueError("guard_in must be 0..16")
        self.guard_ext = GUARD_BITS - self.guard_in if self.guarded else 0
        self.payload_bits = DATA_BITS - self.guard_in
        self.width = CODE_BITS + self.guard_ext
        self.payload_mask = (1 << self.payload_bits) - 1

    def __repr__(self):
        return f"WordCode(guard_in={self.guard_in if self.guarded else None})"

    def guard_of_bit(self, j):
        """Guard-syndrome column of stored bit j (0 for SECDED check bits)."""
        if j < self.payload_bits:
            return GUARD_COLUMNS[j]
        if j < DATA_BITS:
            return 1 << (j - self.payload_bits)
        if j < CODE_BITS:
            return 0
        return 1 << (self.guard_in + j - CODE_BITS)

    def columns(self):
        """Column of the combined parity-check matrix per stored bit: SECDED syndrome in
        bits 7:0, guard syndrome in 23:8 (guarded codes only)."""
        if not self.guarded:
            return list(H_COLUMNS)
        sec = list(H_COLUMNS) + [0] * self.guard_ext
        return [sec[j] | self.guard_of_bit(j) << CHECK_BITS for j in range(self.width)]

    def encode(self, data):
        payload = data & self.payload_mask
        if not self.guarded:
            return ecc_encode(data & ((1 << DATA_BITS) - 1))
        g = guard_value(payload, self.payload_bits)
        word = payload | (g & ((1 << self.guard_in) - 1)) << self.payload_bits
        return ecc_encode(word) | (g >> self.guard_in) << CODE_BITS

    def guard_syndrome(self, code):
        word = code & ((1 << DATA_BITS) - 1)
        stored = word >> self.payload_bits | (code >> CODE_BITS) << self.guard_in
        return guard_value(word & self.payload_mask, self.payload_bits) ^ stored

    def decode(self, code):
        """Stored word -> (data, EccStatus, SECDED syndrome, UeKind, corrected stored word)."""
        if not self.guarded:
            data, status, syn = ecc_decode(code)
            fixed = ecc_encode(data) if status == EccStatus.CORRECTED else code
            return data, status, syn, UeKind.SECDED if status == EccStatus.UNCORRECTABLE else UeKind.NONE, fixed
        syn = ecc_syndrome(code & ((1 << CODE_BITS) - 1))
        gsyn = self.guard_syndrome(code)
        status, kind, fixed = EccStatus.OK, UeKind.NONE, code
        if syn:
            j = _SYNDROME_TO_BIT.get(syn)
            if j is None:
                status, kind = EccStatus.UNCORRECTABLE, UeKind.SECDED
            elif gsyn == self.guard_of_bit(j):
                status, fixed = EccStatus.CORRECTED, code ^ 1 << j
            else:                                  # the data shows SECDED's flip (as the RTL), untrusted
                status, kind = EccStatus.UNCORRECTABLE, UeKind.GUARD
                return (code ^ 1 << j) & self.payload_mask, status, syn, kind, code
        elif gsyn:
            i = gsyn.bit_length() - 1
            if gsyn == 1 << i and i >= self.guard_in:        # one flipped guard bit beside the 72
                status, fixed = EccStatus.CORRECTED, code ^ 1 << (CODE_BITS + i - self.guard_in)
            else:
                status, kind = EccStatus.UNCORRECTABLE, UeKind.GUARD
        return fixed & self.payload_mask, status, syn, kind, fixed


SECDED = WordCode()
