"""Amaranth-sim checks of the RTL state tables against the reference model's."""

from chimney.contract import MEMORIES, memory_depth, word_code
from chimney.contract.ecc import EccStatus
from chimney.rtl.eccmem import peek, poke

__all__ = ["load_tables", "assert_tables_equal"]


def load_tables(ctx, params, tables, model):
    """Every word of every RTL memory set to the model's stored word (back door)."""
    for name, _, _ in MEMORIES:
        for a in range(memory_depth(params, name)):
            poke(ctx, tables.mems[name], a, model.peek(name, a))


def assert_tables_equal(ctx, params, tables, model, when=""):
    """Every word of every memory decodes to the model's: the same value, or both
    uncorrectable (what an uncorrectable word holds is not defined)."""
    for name, _, _ in MEMORIES:
        code = word_code(params, name)
        for a in range(memory_depth(params, name)):
            got = code.decode(peek(ctx, tables.mems[name], a))
            want = code.decode(model.peek(name, a))
            bad_got, bad_want = got[1] == EccStatus.UNCORRECTABLE, want[1] == EccStatus.UNCORRECTABLE
            assert bad_got == bad_want and (bad_got or got[0] == want[0]), \
                f"{when}{': ' if when else ''}{name}[{a}]: RTL {got[0]:#x} ({got[1].name}), " \
                f"model {want[0]:#x} ({want[1].name})"
