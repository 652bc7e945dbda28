"""Row layouts of the state tables and the request pool.

Every table row is three kinds of 64-bit word, each stored with SECDED:

* **data** words: the object's state as offloaded (delegated variables, the
  const/cached fields the engine keeps). Written by OFFLOAD (and UPDATE for cached
  fields), covered by the row CRC. The host's load block has exactly this layout.
* the **ident** word: the host's NdisOffloadHandle and the row CRC.
* the **meta** word: what the engine changes while the object lives: valid,
  failed, generation, parent link, reference count or request list.

Data and ident never change after OFFLOAD except through UPDATE, so the CRC over
them is computed once and checked whenever state leaves the engine.
"""

from functools import lru_cache

from .layout import Field, Layout, Union, bits_for, reserved
from .params import EngineParams
from .ecc import GUARD_BITS, WordCode
from .status import ObjType

WORD = 64
GEN_BITS = 8
#: freed_tag holds the whole CMD_COUNT: with fewer bits a stale handle presented
#: 2**TAG_BITS commands after the free looked like a duplicate (issue 11, defect 2)
TAG_BITS = 32

# --- data words ---------------------------------------------------------
#: TCP_OFFLOAD_STATE_DELEGATED variables in NDIS declaration order, at the widths
#: the engine stores (State needs 4 bits; the C enum is 32), followed by the
#: TCP_OFFLOAD_STATE_CONST fields the engine keeps.
TCP_DATA = Layout("tcp_data", [
    Field("State", 4, "TCP_OFFLOAD_CONNECTION_STATE (0..10)"),
    Field("Flags", 16, "delegated Flags"),
    Field("RcvNxt", 32), Field("RcvWnd", 32), Field("SndUna", 32), Field("SndNxt", 32),
    Field("SndMax", 32), Field("SndWnd", 32), Field("MaxSndWnd", 32), Field("SendWL1", 32),
    Field("CWnd", 32), Field("SsThresh", 32),
    Field("SRtt", 16), Field("RttVar", 16),
    Field("TsRecent", 32), Field("TsRecentAge", 32), Field("TsTime", 32), Field("TotalRT", 32),
    Field("DupAckCount", 8), Field("SndWndProbeCount", 8),
    Field("KeepAlive_ProbeCount", 8), Field("KeepAlive_TimeoutDelta", 32),
    Field("Retransmit_Count", 8), Field("Retransmit_TimeoutDelta", 32),
    Field("DWnd", 32),
    Field("ConstFlags", 3, "TCP const Flags: timestamps 0x1, SACK 0x2, window scaling 0x4"),
    Field("SndWindScale", 4, "TCP const"),
    Field("RcvWindScale", 4, "TCP const"),
], size=10 * WORD, doc="TCP connection: delegated state and kept const fields")

PATH_DATA = Layout("path_data", [
    Field("PathMtu", 32, "PATH_OFFLOAD_STATE_CACHED.PathMtu"),
    reserved("rsvd", 32),
], size=WORD, doc="Path: cached state (a path has no delegated variables)")

NEIGHBOR_DATA = Layout("neighbor_data", [
    Field("NicReachabilityDelta", 32, "NEIGHBOR_OFFLOAD_STATE_DELEGATED"),
    Field("HostReachabilityDelta", 32, "NEIGHBOR_OFFLOAD_STATE_CACHED"),
    Field("DlDestinationAddress", 48, "cached; the engine keeps a 48-bit MAC"),
    Field("VlanId", 12, "NEIGHBOR_OFFLOAD_STATE_CONST.VlanId"),
    reserved("rsvd", 4),
], size=2 * WORD, doc="Neighbor: delegated, cached and const state")

DATA = {ObjType.TCP: TCP_DATA, ObjType.PATH: PATH_DATA, ObjType.NEIGHBOR: NEIGHBOR_DATA}

#: Fields an UPDATE command may change (cached state). TCP cached state is kept by
#: the driver, not the engine, so a TCP UPDATE changes nothing in the tables.
CACHED_FIELDS = {
    ObjType.TCP: (),
    ObjType.PATH: ("PathMtu",),
    ObjType.NEIGHBOR: ("HostReachabilityDelta", "DlDestinationAddress"),
}


def data_words(obj_type):
    return DATA[ObjType(obj_type)].width // WORD


def cached_mask(obj_type):
    """Bit mask over the data row of the fields UPDATE replaces."""
    lay = DATA[ObjType(obj_type)]
    mask = 0
    for name in CACHED_FIELDS[ObjType(obj_type)]:
        mask |= ((1 << lay.field(name).width) - 1) << lay.offset(name)
    return mask


IDENT = Layout("ident", [
    Field("host_handle", 32, "NdisOffloadHandle token given at OFFLOAD, echoed in events"),
    Field("crc", 32, "CRC-32C over the data words then host_handle"),
], doc="Identity word, one per row")


# --- meta words -----------------------------------------------------------
def _meta(name, live_fields):
    layout = Layout(name, [
        Field("valid", 1, "row holds an offloaded object"),
        Field("failed", 1, "state lost; only a terminate may touch it"),
        Field("poisoned", 1, "this word itself was lost: generation and links unknown, row quarantined"),
        Field("detached", 1, "TCP: the path reference was released by the terminate that found the row failed"),
        Field("gen", GEN_BITS, "generation, part of the handle; incremented when the row is freed"),
        Union("u", {
            "live": Layout(name + "_live", live_fields),
            "free": Layout(name + "_free", [
                Field("freed_tag", TAG_BITS, "CMD_COUNT of the command that freed the row (duplicate detection)"),
            ]),
        }, doc="live when valid, free otherwise"),
    ], size=WORD)
    if layout.used > WORD:
        raise ValueError(f"{name}: {layout.used} bits do not fit a {WORD}-bit word; reduce table depths")
    return layout


@lru_cache(maxsize=None)
def meta_layout(params: EngineParams, obj_type):
    t = ObjType(obj_type)
    if t == ObjType.TCP:
        return _meta("tcp_meta", [
            Field("parent", params.path_bits, "path index"),
            Field("req_head", params.req_bits, "oldest posted request"),
            Field("req_tail", params.req_bits, "newest posted request"),
            Field("req_count", bits_for(params.n_req + 1), "posted requests"),
        ])
    if t == ObjType.PATH:
        return _meta("path_meta", [
            Field("parent", params.neighbor_bits, "neighbor index"),
            Field("refcount", bits_for(params.n_tcp + 1), "offloaded TCP connections on this path"),
        ])
    return _meta("neighbor_meta", [
        Field("refcount", bits_for(params.n_path + 1), "offloaded paths on this neighbor"),
    ])


@lru_cache(maxsize=None)
def pool_layout(params: EngineParams):
    lay = Layout("req_entry", [
        Field("used", 1, "entry holds a posted request"),
        Field("poisoned", 1, "entry was lost: quarantined, its list ends here"),
        Field("cookie", 32, "host's request cookie"),
        Field("length", 16, "bytes"),
        Field("kind", 1, "0 send, 1 receive"),
        Field("next", params.req_bits, "next request of the same connection"),
    ], size=WORD)
    if lay.used > WORD:
        raise ValueError("request pool too deep for a 64-bit entry")
    return lay


# --- handles ---------------------------------------------------------------
HANDLE = Layout("handle", [
    Field("index", 16, "row index"),
    Field("gen", GEN_BITS, "row generation"),
    Field("type", 2, "ObjType: 1 neighbor, 2 path, 3 TCP"),
    reserved("rsvd", 6),
], doc="MiniportOffloadContext: what the engine hands out at OFFLOAD")


def make_handle(obj_type, index, gen):
    return HANDLE.pack(index=index, gen=gen, type=int(obj_type))


def split_handle(handle):
    h = HANDLE.unpack(handle)
    return h["type"], h["index"], h["gen"], h["rsvd"]


# --- memories ----------------------------------------------------------------
#: Every ECC-protected memory, in memory-id order (ERRINJ_CTRL.MEM, ECC_LAST_*.MEM,
#: the name map written with the Verilog, the fault injector). kind: data/ident/meta/pool.
MEMORIES = (
    ("neighbor_data", ObjType.NEIGHBOR, "data"),
    ("neighbor_ident", ObjType.NEIGHBOR, "ident"),
    ("neighbor_meta", ObjType.NEIGHBOR, "meta"),
    ("path_data", ObjType.PATH, "data"),
    ("path_ident", ObjType.PATH, "ident"),
    ("path_meta", ObjType.PATH, "meta"),
    ("tcp_data", ObjType.TCP, "data"),
    ("tcp_ident", ObjType.TCP, "ident"),
    ("tcp_meta", ObjType.TCP, "meta"),
    ("req_pool", None, "pool"),
)
MEMORY_ID = {name: i for i, (name, _, _) in enumerate(MEMORIES)}


def memory_id(obj_type, kind):
    for i, (_, t, k) in enumerate(MEMORIES):
        if t == obj_type and k == kind:
            return i
    raise KeyError((obj_type, kind))


def memory_depth(params: EngineParams, name):
    """Words in a memory: rows x words-per-row (data), rows (ident/meta), entries (pool)."""
    _, t, kind = MEMORIES[MEMORY_ID[name]]
    if kind == "pool":
        return params.n_req
    rows = params.depth(t)
    return rows * data_words(t) if kind == "data" else rows


# --- how each memory stores its words ------------------------------------------------
def guard_split(params: EngineParams, name):
    """(guard bits in the word's free top bits, guard bits stored beside the 72) for a
    meta or pool memory; None for data and ident words (the row CRC covers those) and
    for a build without ECC."""
    _, t, kind = MEMORIES[MEMORY_ID[name]]
    if not params.ecc or kind not in ("meta", "pool"):
        return None
    layout = pool_layout(params) if kind == "pool" else meta_layout(params, t)
    inside = min(GUARD_BITS, WORD - layout.used)
    return inside, GUARD_BITS - inside


def word_code(params: EngineParams, name):
    """The `WordCode` of memory `name` (None without ECC: plain 64-bit words)."""
    if not params.ecc:
        return None
    split = guard_split(params, name)
    return WordCode(None if split is None else split[0])


def stored_width(params: EngineParams, name):
    """Bits per stored word of memory `name`: 64 without ECC, 72 with SECDED, more with
    a guard that does not fit inside the word."""
    code = word_code(params, name)
    return WORD if code is None else code.width
