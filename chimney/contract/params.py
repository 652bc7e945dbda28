"""Build-time parameters of the engine. Every width in the contract follows from these."""

from dataclasses import dataclass, asdict, replace

from .layout import bits_for

VERSION = (0, 1, 0)


@dataclass(frozen=True)
class EngineParams:
    n_neighbor: int = 64        # neighbor table rows
    n_path: int = 256           # path table rows
    n_tcp: int = 1024           # TCP connection table rows
    n_req: int = 4096           # shared request-pool entries (posted sends + receives)
    ecc: bool = True            # SECDED on stored words (off: plain RAM, for area comparison)
    data_width: int = 64        # AXI4 DMA bus width in bits (64..512; transfers stay 8 bytes a beat)
    addr_width: int = 64        # AXI4 DMA address width in bits
    dma_timeout: int = 1 << 16  # cycles without progress before a DMA transaction is abandoned
    scrub_interval: int = 1024  # reset value of SCRUB_INTERVAL (cycles between scrub steps)
    max_burst: int = 16         # beats per AXI burst (<= 256); bursts never cross 4 KiB
    n_windows: int = 2          # DMA address windows (chimney.contract.windows), 1..8
    ram_latency: int = 4        # state-RAM read latency, 2..5 (4: every memory >= 180 MHz alone on ECP5-8,
                                # rtl/eccmem.py and docs/performance.md "Component timing"; 3 before issue 12)

    def __post_init__(self):
        for name in ("n_neighbor", "n_path", "n_tcp", "n_req"):
            v = getattr(self, name)
            if not 2 <= v <= 1 << 16 or v & (v - 1):
                raise ValueError(f"{name}={v}: must be a power of two in 2..65536")
        if self.n_req > 1 << 14:
            # one connection may hold every entry, and LIST_ENTRY.req_cap (15 bits) must name them all
            raise ValueError(f"n_req={self.n_req}: at most 16384")
        if self.data_width not in (64, 128, 256, 512):
            raise ValueError("data_width must be 64, 128, 256 or 512")
        if not 32 <= self.addr_width <= 64:
            raise ValueError("addr_width must be 32..64")
        if not 1 <= self.max_burst <= 256:
            raise ValueError("max_burst must be 1..256")
        if not 1 <= self.n_windows <= 8:
            raise ValueError("n_windows must be 1..8")
        if not 2 <= self.ram_latency <= 5:
            raise ValueError("ram_latency must be 2..5")

    # widths that follow from the depths
    @property
    def neighbor_bits(self):
        return bits_for(self.n_neighbor)

    @property
    def path_bits(self):
        return bits_for(self.n_path)

    @property
    def tcp_bits(self):
        return bits_for(self.n_tcp)

    @property
    def req_bits(self):
        return bits_for(self.n_req)

    def depth(self, obj_type):
        from .status import ObjType
        return {ObjType.NEIGHBOR: self.n_neighbor, ObjType.PATH: self.n_path,
                ObjType.TCP: self.n_tcp}[ObjType(obj_type)]

    def as_dict(self):
        return asdict(self)

    def describe(self):
        """"n_neighbor=64, n_path=256, ...": the build's parameters on one line, for the
        headers of generated files."""
        return ", ".join(f"{k}={v}" for k, v in self.as_dict().items())

    def replace(self, **kw):
        return replace(self, **kw)


DEFAULT = EngineParams()
