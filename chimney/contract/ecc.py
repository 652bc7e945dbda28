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
