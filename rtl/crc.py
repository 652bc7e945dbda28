"""CRC-32C over 64-bit words as XOR networks, built from `chimney.contract.ecc.crc_matrices()`.

The raw CRC step is linear in (state, word), so each next-state bit is the XOR of
the state and word bits whose matrix column has that bit set; the matrices come
from the contract, so `crc32c_step` matches `crc_step` by construction.

A row check value is `row_crc(words, handle)`: start from CRC_INIT, step every data
word, step the host handle as a zero-extended 64-bit word, XOR with CRC_XOROUT.
"""

from amaranth.hdl import Cat, Module, Mux, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from chimney.contract.ecc import CRC_INIT, CRC_XOROUT, crc_matrices

__all__ = ["CRC_INIT", "CRC_XOROUT", "crc32c_step", "crc32c_state_term", "crc32c_word_term", "CrcAccumulator"]

_STATE_COLS, _DATA_COLS = crc_matrices()


def crc32c_step(state, word):
    """Raw CRC register (32 bits) advanced by one little-endian 64-bit word."""
    state = Value.cast(state)
    word = Value.cast(word)
    assert len(state) == 32 and len(word) == 64, (len(state), len(word))
    bits = []
    for k in range(32):
        terms = [state[i] for i, col in enumerate(_STATE_COLS) if col >> k & 1]
        terms += [word[j] for j, col in enumerate(_DATA_COLS) if col >> k & 1]
        bits.append(Cat(*terms).xor())
    return Cat(*bits)


def crc32c_state_term(state):
    """The state's part of a step: crc32c_step(state, word) == state_term ^ word_term(word)."""
    state = Value.cast(state)
    return Cat(*(Cat(*(state[i] for i, col in enumerate(_STATE_COLS) if col >> k & 1)).xor()
                 for k in range(32)))


def crc32c_word_term(word):
    """The word's part of a step (the step is linear: a word's term can be computed, and
    registered, before the state it joins is known)."""
    word = Value.cast(word)
    assert len(word) == 64, len(word)
    return Cat(*(Cat(*(word[j] for j, col in enumerate(_DATA_COLS) if col >> k & 1)).xor()
                 for k in range(32)))


class CrcAccumulator(wiring.Component):
    """A CRC-32C register: `clear` loads CRC_INIT, `step` folds in `word`.

    Both in one cycle fold `word` into a fresh CRC_INIT (start a new row without
    a dead cycle). `crc` is the finished value (raw ^ CRC_XOROUT) of the words
    stepped so far, valid the cycle after the last step.
    """

    clear: In(1)
    step: In(1)
    word: In(64)
    raw: Out(32)
    crc: Out(32)

    def elaborate(self, platform):
        m = Module()
        state = Signal(32, init=CRC_INIT)
        base = Mux(self.clear, CRC_INIT, state)
        with m.If(self.step):
            m.d.sync += state.eq(crc32c_step(base, self.word))
        with m.Elif(self.clear):
            m.d.sync += state.eq(CRC_INIT)
        m.d.comb += [self.raw.eq(state), self.crc.eq(state ^ CRC_XOROUT)]
        return m
