"""The contract's own definitions: codes, layouts, handles, NDIS byte layouts."""

import random

import pytest

from chimney.contract import (ecc, EngineParams, TCP_DATA, NEIGHBOR_DATA, WRITE_BACK, ObjType, COMMAND,
                              COMPLETION, make_handle, split_handle, meta_layout, pool_layout, cached_mask,
                              data_words, LIST_ENTRY)
from chimney.contract.ecc import EccStatus

SEED = 20261125


def test_secded_corrects_every_single_flip_and_detects_every_double():
    rng = random.Random(SEED)
    for data in [0, (1 << 64) - 1] + [rng.getrandbits(64) for _ in range(6)]:
        code = ecc.ecc_encode(data)
        assert ecc.ecc_decode(code) == (data, EccStatus.OK, 0)
        for i in range(72):
            got, status, syn = ecc.ecc_decode(code ^ 1 << i)
            assert (got, status) == (data, EccStatus.CORRECTED), i
            assert syn == ecc.H_COLUMNS[i]
        for i in range(72):
            for j in range(i + 1, 72):
                assert ecc.ecc_decode(code ^ 1 << i ^ 1 << j)[1] == EccStatus.UNCORRECTABLE, (i, j)


def test_secded_never_calls_a_triple_flip_clean():
    rng = random.Random(SEED)
    for _ in range(3000):
        data = rng.getrandbits(64)
        bits = rng.sample(range(72), 3)
        code = ecc.ecc_encode(data) ^ sum(1 << b for b in bits)
        assert ecc.ecc_decode(code)[1] != EccStatus.OK


def test_crc32c_matches_the_standard_check_value_and_its_matrices():
    assert ecc.crc32c_bytes(b"123456789") == 0xE3069283
    state_cols, data_cols = ecc.crc_matrices()
    rng = random.Random(SEED)
    for _ in range(50):
        s, w = rng.getrandbits(32), rng.getrandbits(64)
        expect = 0
        for i in range(32):
            if s >> i & 1:
                expect ^= state_cols[i]
        for j in range(64):
            if w >> j & 1:
                expect ^= data_cols[j]
        assert ecc.crc_step(s, w) == expect
    words = [rng.getrandbits(64) for _ in range(10)]
    raw = b"".join(w.to_bytes(8, "little") for w in words) + (0x1234).to_bytes(8, "little")
    assert ecc.row_crc(words, 0x1234) == ecc.crc32c_bytes(raw)


def test_layout_pack_unpack_round_trip_and_range_checks():
    rng = random.Random(SEED)
    values = {name: rng.getrandbits(f.width) for name, _, f in TCP_DATA if name != "State"}
    values["State"] = 4
    word = TCP_DATA.pack(values)
    assert TCP_DATA.unpack(word) == values
    with pytest.raises(ValueError):
        TCP_DATA.pack(State=16)
    with pytest.raises(KeyError):
        COMMAND.pack(nonsense=1)
    assert COMMAND.width == 256 and COMPLETION.width == 128


def test_meta_layouts_fit_a_word_and_reject_oversized_tables():
    p = EngineParams()
    for t in ObjType:
        assert meta_layout(p, t).used <= 64
        assert pool_layout(p).used <= 64
    with pytest.raises(ValueError):
        meta_layout(EngineParams(n_path=65536, n_req=16384), ObjType.TCP)


def test_a_request_array_can_name_the_whole_pool():
    """One connection may hold every pool entry; LIST_ENTRY.req_cap must be able to say so."""
    p = EngineParams(n_req=1 << 14)
    assert p.n_req <= (1 << LIST_ENTRY.field("req_cap").width) - 1
    with pytest.raises(ValueError):
        EngineParams(n_req=1 << 15)


def test_handles():
    h = make_handle(ObjType.TCP, 1023, 255)
    assert split_handle(h) == (ObjType.TCP, 1023, 255, 0)
    assert split_handle(h | 1 << 30)[3] != 0


def test_tcp_write_back_places_every_variable_at_its_ndis_offset():
    wb = WRITE_BACK[ObjType.TCP]
    assert (wb.start, wb.end, wb.beats()) == (8, 124, 15)
    row = {name: i + 1 for i, (name, _, _) in enumerate(TCP_DATA)}
    img = wb.image(row)
    expect = {"State": 0x08, "Flags": 0x0C, "RcvNxt": 0x10, "SRtt": 0x38, "RttVar": 0x3A,
              "DupAckCount": 0x4C, "KeepAlive_ProbeCount": 0x50, "KeepAlive_TimeoutDelta": 0x54,
              "Retransmit_Count": 0x58, "Retransmit_TimeoutDelta": 0x5C, "DWnd": 0x78}
    for name, off in expect.items():
        size = dict((n, s) for n, _, s in wb.fields)[name]
        assert int.from_bytes(img[off - 8:off - 8 + size], "little") == row[name], name
    assert img[0x60 - 8:0x78 - 8] == bytes(24)      # host pointers: zero, the driver fills them
    # const fields are kept but never written back
    assert "ConstFlags" not in {n for n, _, _ in wb.fields}


def test_neighbor_and_path_write_back_and_cached_masks():
    assert (WRITE_BACK[ObjType.NEIGHBOR].start, WRITE_BACK[ObjType.NEIGHBOR].end) == (8, 12)
    assert WRITE_BACK[ObjType.PATH].nbytes == 0
    assert cached_mask(ObjType.TCP) == 0
    mask = cached_mask(ObjType.NEIGHBOR)
    assert mask & ((1 << 32) - 1) == 0                       # NicReachabilityDelta is delegated
    assert mask >> NEIGHBOR_DATA.offset("HostReachabilityDelta") & 0xFFFFFFFF == 0xFFFFFFFF
    assert data_words(ObjType.TCP) == 10 and data_words(ObjType.NEIGHBOR) == 2


# --- the guard on meta words and pool entries -----------------------------------------
def _polymod(a, g):
    """a(x) mod g(x) over GF(2), by long division (an implementation apart from the contract's)."""
    while a.bit_length() >= g.bit_length():
        a ^= g << (a.bit_length() - g.bit_length())
    return a


def test_guard_columns_are_the_cyclic_code():
    g = 1 << ecc.GUARD_BITS | ecc.GUARD_POLY
    assert list(ecc.GUARD_COLUMNS) == [_polymod(1 << (16 + j), g) for j in range(64)]


def _min_weight_at_most_6(cols):
    """Smallest number of columns that XOR to zero, if it is 6 or less (else 7)."""
    from itertools import combinations
    sums = {}
    for k in (1, 2, 3):
        for sub in combinations(range(len(cols)), k):
            x = 0
            for i in sub:
                x ^= cols[i]
            if x == 0:
                return k
            sums.setdefault(x, []).append(sub)
    best = 7
    for subs in sums.values():
        for a, b in combinations(subs, 2):
            if not set(a) & set(b):
                best = min(best, len(a) + len(b))
    return best


@pytest.mark.parametrize("guard_in", range(17))
def test_guard_code_distance(guard_in):
    """SECDED with the guard has minimum distance 6 for every split: 2-4 bit errors are
    always detected, single flips always corrected (and the columns are distinct)."""
    code = ecc.WordCode(guard_in)
    cols = code.columns()
    assert len(set(cols)) == len(cols) == code.width
    assert _min_weight_at_most_6(cols) == 6


@pytest.mark.parametrize("params", [EngineParams(), EngineParams(n_tcp=4096, n_req=512),
                                    EngineParams(n_neighbor=4, n_path=8, n_tcp=16, n_req=32)],
                         ids=["default", "4096x512", "small"])
def test_guard_split_fits_every_layout(params):
    from chimney.contract import MEMORIES, guard_split, stored_width, meta_layout, pool_layout
    for name, t, kind in MEMORIES:
        split = guard_split(params, name)
        if kind not in ("meta", "pool"):
            assert split is None and stored_width(params, name) == 72
            continue
        lay = pool_layout(params) if kind == "pool" else meta_layout(params, t)
        inside, beside = split
        assert inside + beside == ecc.GUARD_BITS and lay.used + inside <= 64
        assert inside == min(16, 64 - lay.used)          # the free top bits are used first
        assert stored_width(params, name) == 72 + beside
        code = ecc.WordCode(inside)
        for j in range(code.width):                      # every single flip corrected
            w = code.encode((1 << lay.used) - 1)
            data, status, _, _, fixed = code.decode(w ^ 1 << j)
            assert (data, status, fixed) == ((1 << lay.used) - 1, ecc.EccStatus.CORRECTED, w), (name, j)
