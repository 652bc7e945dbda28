"""NDIS-shaped types at the driver's upper edge (see ../shared/spec/ndis-terminate.md).

State structures carry the exact NDIS member names (TCP_OFFLOAD_STATE_DELEGATED etc.);
`BlockList` is NDIS_MINIPORT_OFFLOAD_BLOCK_LIST with snake_case member names; a
`NetBufferList` is one posted send or receive. `build_tree` makes realistic trees
(neighbors -> paths -> TCP connections).
"""

import random
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Optional

from chimney.contract import ObjType, TcpConnectionState, WRITE_BACK


class HeaderType(IntEnum):
    """Which state structures follow a block (the engine's ObjType values)."""
    NEIGHBOR = int(ObjType.NEIGHBOR)
    PATH = int(ObjType.PATH)
    TCP = int(ObjType.TCP)


# --- TCP ------------------------------------------------------------------------------
@dataclass
class TcpConst:
    """TCP_OFFLOAD_STATE_CONST"""
    Flags: int = 0              # timestamps 0x1, SACK 0x2, window scaling 0x4
    RemotePort: int = 0
    LocalPort: int = 0
    SndWindScale: int = 0       # 4 bits
    RcvWindScale: int = 0       # 4 bits
    RemoteMss: int = 1460
    HashValue: int = 0


@dataclass
class TcpCached:
    """TCP_OFFLOAD_STATE_CACHED (kept by the driver; the engine does not store it)"""
    Flags: int = 0
    InitialRcvWnd: int = 65535
    RcvIndicationSize: int = 0
    KaProbeCount: int = 0
    KaTimeout: int = 0
    KaInterval: int = 0
    MaxRT: int = 0
    FlowLabel: int = 0          # 20 bits
    TtlOrHopLimit: int = 64
    TosOrTrafficClass: int = 0
    UserPriority: int = 0       # 3 bits


@dataclass
class KeepAliveState:
    ProbeCount: int = 0
    TimeoutDelta: int = 0


@dataclass
class RetransmitState:
    Count: int = 0
    TimeoutDelta: int = 0


@dataclass
class TcpDelegated:
    """TCP_OFFLOAD_STATE_DELEGATED (declaration order)"""
    State: int = int(TcpConnectionState.ESTABLISHED)
    Flags: int = 0
    RcvNxt: int = 0
    RcvWnd: int = 0
    SndUna: int = 0
    SndNxt: int = 0
    SndMax: int = 0
    SndWnd: int = 0
    MaxSndWnd: int = 0
    SendWL1: int = 0
    CWnd: int = 0
    SsThresh: int = 0
    SRtt: int = 0
    RttVar: int = 0
    TsRecent: int = 0
    TsRecentAge: int = 0
    TsTime: int = 0
    TotalRT: int = 0
    DupAckCount: int = 0
    SndWndProbeCount: int = 0
    KeepAlive: KeepAliveState = field(default_factory=KeepAliveState)
    Retransmit: RetransmitState = field(default_factory=RetransmitState)
    # union { struct { SendDataHead; SendDataTail }; SendBacklogSize }
    SendDataHead: Optional["NetBufferList"] = None
    SendDataTail: Optional["NetBufferList"] = None
    SendBacklogSize: int = 0
    # union { BufferedData; ReceiveBacklogSize }
    BufferedData: Optional["NetBufferList"] = None
    ReceiveBacklogSize: int = 0
    DWnd: int = 0


# --- path and neighbor ------------------------------------------------------------------
@dataclass
class PathConst:
    SourceAddress: str = "192.0.2.1"
    DestinationAddress: str = "198.51.100.1"


@dataclass
class PathCached:
    PathMtu: int = 1500


@dataclass
class PathDelegated:
    """PATH_OFFLOAD_STATE_DELEGATED: header only, no variables."""


@dataclass
class NeighborConst:
    DlSourceAddress: int = 0x020000000001
    VlanId: int = 0             # 12 bits


@dataclass
class NeighborCached:
    DlDestinationAddress: int = 0x020000000002
    HostReachabilityDelta: int = 0


@dataclass
class NeighborDelegated:
    NicReachabilityDelta: int = 0


# --- requests and blocks ------------------------------------------------------------------
@dataclass(eq=False)
class NetBufferList:
    """One posted send (data to transmit) or receive (buffer to fill).

    `cookie` is assigned by the driver when the NBL is posted (the engine echoes it);
    `status` is set when the NBL is completed; `next` chains NBLs (NetBufferListChain)."""
    length: int
    next: Optional["NetBufferList"] = None
    status: Optional[int] = None
    cookie: Optional[int] = None
    name: str = ""

    def __repr__(self):
        return f"NBL({self.name or hex(id(self))}, len={self.length}, cookie={self.cookie})"


def chain_nbls(nbls):
    """Link NBLs by `next` in the given order; returns the head (or None)."""
    nbls = list(nbls)
    for a, b in zip(nbls, nbls[1:]):
        a.next = b
    if nbls:
        nbls[-1].next = None
    return nbls[0] if nbls else None


def iter_chain(head):
    while head is not None:
        yield head
        head = head.next


@dataclass(eq=False)
class BlockList:
    """NDIS_MINIPORT_OFFLOAD_BLOCK_LIST plus the state structures that follow it."""
    header_type: HeaderType
    const: object = None
    cached: object = None
    delegated: object = None
    next_block: Optional["BlockList"] = None
    dependent_block_list: Optional["BlockList"] = None
    status: Optional[int] = None                 # written by the target
    miniport_offload_context: Optional[int] = None   # our handle
    ndis_offload_handle: object = None           # the host's handle, echoed in events
    net_buffer_list_chain: Optional[NetBufferList] = None
    name: str = ""

    def __repr__(self):
        return f"Block({self.header_type.name} {self.name}, ctx={self.miniport_offload_context})"

    def siblings(self):
        """This block and its NextBlock chain."""
        b = self
        while b is not None:
            yield b
            b = b.next_block

    def dependents(self):
        return list(self.dependent_block_list.siblings()) if self.dependent_block_list else []


def link_siblings(blocks):
    blocks = list(blocks)
    for a, b in zip(blocks, blocks[1:]):
        a.next_block = b
    if blocks:
        blocks[-1].next_block = None
    return blocks[0] if blocks else None


def walk_tree(root):
    """Every block of a root list, parents before dependents (pre-order)."""
    if root is None:
        return
    for b in root.siblings():
        yield b
        yield from walk_tree(b.dependent_block_list)


def walk_dependents_first(root):
    """Every block of a root list, dependents before what they depend on (post-order):
    a path's TCP connections before the path, a neighbor's paths before the neighbor."""
    if root is None:
        return
    for b in root.siblings():
        yield from walk_dependents_first(b.dependent_block_list)
        yield b


# --- engine row images ---------------------------------------------------------------------
def load_fields(block: BlockList):
    """The data-row fields (the OFFLOAD/UPDATE load block) of a block's state."""
    t = block.header_type
    if t == HeaderType.TCP:
        d, c = block.delegated, block.const
        row = {}
        for name, _, _ in WRITE_BACK[ObjType.TCP].fields:
            if "_" in name:
                outer, inner = name.split("_", 1)
                row[name] = getattr(getattr(d, outer), inner)
            else:
                row[name] = getattr(d, name)
        row.update(ConstFlags=c.Flags & 0x7, SndWindScale=c.SndWindScale, RcvWindScale=c.RcvWindScale)
        return row
    if t == HeaderType.PATH:
        return dict(PathMtu=block.cached.PathMtu)
    return dict(NicReachabilityDelta=block.delegated.NicReachabilityDelta,
                HostReachabilityDelta=block.cached.HostReachabilityDelta,
                DlDestinationAddress=block.cached.DlDestinationAddress & ((1 << 48) - 1),
                VlanId=block.const.VlanId)


def apply_delegated(block: BlockList, values):
    """Copy written-back delegated variables ({row field: value}) into the block."""
    d = block.delegated
    for name, v in values.items():
        if "_" in name and block.header_type == HeaderType.TCP:
            outer, inner = name.split("_", 1)
            setattr(getattr(d, outer), inner, v)
        else:
            setattr(d, name, v)


def delegated_values(block: BlockList):
    """The block's delegated variables the engine writes back, as {row field: value}."""
    row = load_fields(block)
    return {name: row[name] for name, _, _ in WRITE_BACK[ObjType(block.header_type)].fields}


# --- realistic trees ------------------------------------------------------------------------
def random_tcp_delegated(rng: random.Random):
    iss, irs = rng.getrandbits(32), rng.getrandbits(32)
    una = iss + rng.randrange(1, 1 << 20)
    nxt = una + rng.randrange(0, 1 << 16)
    return TcpDelegated(
        State=rng.choice([s.value for s in TcpConnectionState]),
        Flags=rng.getrandbits(16), RcvNxt=irs, RcvWnd=rng.randrange(1 << 10, 1 << 20),
        SndUna=una & 0xFFFFFFFF, SndNxt=nxt & 0xFFFFFFFF, SndMax=(nxt + rng.randrange(0, 4096)) & 0xFFFFFFFF,
        SndWnd=rng.randrange(0, 1 << 20), MaxSndWnd=rng.randrange(1 << 16, 1 << 22),
        SendWL1=irs ^ rng.getrandbits(8), CWnd=rng.randrange(1460, 1 << 22), SsThresh=rng.getrandbits(32),
        SRtt=rng.getrandbits(16), RttVar=rng.getrandbits(16), TsRecent=rng.getrandbits(32),
        TsRecentAge=rng.getrandbits(32), TsTime=rng.getrandbits(32), TotalRT=rng.getrandbits(32),
        DupAckCount=rng.getrandbits(8), SndWndProbeCount=rng.getrandbits(8),
        KeepAlive=KeepAliveState(rng.getrandbits(8), rng.getrandbits(32)),
        Retransmit=RetransmitState(rng.getrandbits(8), rng.getrandbits(32)),
        DWnd=rng.getrandbits(32))


def make_tcp(rng: random.Random, name=""):
    flags = rng.getrandbits(3)
    return BlockList(
        HeaderType.TCP,
        const=TcpConst(Flags=flags, RemotePort=rng.randrange(1, 65536), LocalPort=rng.randrange(1024, 65536),
                       SndWindScale=rng.randrange(15) if flags & 4 else 0,
                       RcvWindScale=rng.randrange(15) if flags & 4 else 0,
                       RemoteMss=rng.choice([536, 1220, 1460, 8960]), HashValue=rng.getrandbits(32)),
        cached=TcpCached(Flags=rng.getrandbits(8), KaTimeout=rng.randrange(7200), TtlOrHopLimit=rng.choice([64, 128, 255]),
                         FlowLabel=rng.getrandbits(20), UserPriority=rng.getrandbits(3)),
        delegated=random_tcp_delegated(rng), name=name)


def make_path(rng: random.Random, name=""):
    return BlockList(HeaderType.PATH,
                     const=PathConst(f"10.0.{rng.randrange(256)}.{rng.randrange(256)}",
                                     f"172.16.{rng.randrange(256)}.{rng.randrange(256)}"),
                     cached=PathCached(rng.choice([576, 1280, 1400, 1500, 9000])),
                     delegated=PathDelegated(), name=name)


def make_neighbor(rng: random.Random, name=""):
    return BlockList(HeaderType.NEIGHBOR,
                     const=NeighborConst(DlSourceAddress=rng.getrandbits(48), VlanId=rng.getrandbits(12)),
                     cached=NeighborCached(DlDestinationAddress=rng.getrandbits(48),
                                           HostReachabilityDelta=rng.getrandbits(32)),
                     delegated=NeighborDelegated(rng.getrandbits(32)), name=name)


def build_tree(rng: random.Random, shape):
    """A root list of neighbors. `shape` is a list (one item per neighbor) of lists (one
    per path) of TCP-connection counts, e.g. [[3, 1], [2]]: two neighbors, the first with
    two paths (3 and 1 connections). Returns the first neighbor (the root list)."""
    neighbors = []
    for n, paths in enumerate(shape):
        nb = make_neighbor(rng, f"n{n}")
        path_blocks = []
        for p, ntcp in enumerate(paths):
            pa = make_path(rng, f"n{n}p{p}")
            pa.dependent_block_list = link_siblings(make_tcp(rng, f"n{n}p{p}t{i}") for i in range(ntcp))
            path_blocks.append(pa)
        nb.dependent_block_list = link_siblings(path_blocks)
        neighbors.append(nb)
    return link_siblings(neighbors)


def fresh_delegated(header_type):
    """An all-zero delegated structure of the block's type (what a host stack hands in)."""
    return {HeaderType.TCP: lambda: TcpDelegated(State=0), HeaderType.PATH: PathDelegated,
            HeaderType.NEIGHBOR: NeighborDelegated}[HeaderType(header_type)]()


def sub_tree(blocks):
    """A root list holding copies of `blocks` without dependents, each with a fresh
    (zeroed) delegated structure for the target to fill: for terminating or querying a
    selection of already-offloaded objects, as the host stack builds such a request.
    `copy.origin` is the original block."""
    copies = []
    for b in blocks:
        c = BlockList(b.header_type, b.const, b.cached, fresh_delegated(b.header_type),
                      miniport_offload_context=b.miniport_offload_context,
                      ndis_offload_handle=b.ndis_offload_handle, name=b.name)
        c.origin = b
        copies.append(c)
    return link_siblings(copies)
