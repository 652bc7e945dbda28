"""ECC error reporting: error events from every memory -> the ECC_* CSR state.

Source i is memory id i (`chimney.contract.MEMORIES`); connect each EccMemory's
ev_ce/ev_ue/ev_addr/ev_syndrome to `sources[i]` (see `connect_source`). Row-check
(CRC) failures arrive on crc_fail/crc_mem/crc_addr and count as uncorrectable
with kind 2; an uncorrectable word found by a memory's guard (`guard` with `ue`)
has kind 3.

All inputs (clear included) are registered first, so the long SECDED decode in
front of ev_* never meets the counters' adders in one cycle, and the pick (how many
events, the lowest source of each kind) is registered again before the counters and
last_* registers; every output thus reflects the inputs of three clock edges earlier
(ce_event/ue_event: one), and an event in the same cycle as `clear` is kept (counted
into the fresh counters). Several events in one cycle
are all counted; last_* records the lowest memory id (for UEs a CRC failure
beats a SECDED error only with a strictly lower memory id).

Outputs map to: ECC_CE_COUNT = ce_count, ECC_UE_COUNT = ue_count,
ECC_LAST_CE = {last_ce_valid, last_ce_mem, last_ce_addr}, ECC_LAST_CE_SYN = last_ce_syndrome,
ECC_LAST_UE = {last_ue_valid, last_ue_mem, last_ue_addr},
ECC_LAST_UE_SYN = {last_ue_kind, last_ue_syndrome}; ce_event/ue_event set
ERR_STATUS.ECC_CORRECTED / ECC_UNCORRECTABLE.
"""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from chimney.contract.ecc import CHECK_BITS

__all__ = ["UeKind", "MEM_BITS", "ErrorSourceSignature", "EccReporter", "connect_source"]

MEM_BITS = 5


from chimney.contract.ecc import UeKind      # ECC_LAST_UE_SYN.KIND: NONE, SECDED, CRC, GUARD


def ErrorSourceSignature(addr_bits):
    """One memory's error events, seen from the memory (the reporter takes it flipped)."""
    return wiring.Signature({"ce": Out(1), "ue": Out(1), "addr": Out(addr_bits),
                             "syndrome": Out(CHECK_BITS), "guard": Out(1)})


def connect_source(m, reporter, i, mem):
    """Wire EccMemory `mem`'s ev_* outputs to source (memory id) `i` of `reporter`."""
    src = reporter.sources[i]
    m.d.comb += [src.ce.eq(mem.ev_ce), src.ue.eq(mem.ev_ue),
                 src.addr.eq(mem.ev_addr), src.syndrome.eq(mem.ev_syndrome), src.guard.eq(mem.ev_guard)]


class EccReporter(wiring.Component):
    def __init__(self, n_sources, addr_bits=24, *, count_bits=32):
        if not 1 <= n_sources <= 1 << MEM_BITS:
            raise ValueError("n_sources must be 1..32")
        self.n_sources = n_sources
        self.addr_bits = addr_bits
        self.count_bits = count_bits
        loc = lambda kind: {
            f"last_{kind}_addr": Out(addr_bits), f"last_{kind}_mem": Out(MEM_BITS),
            f"last_{kind}_valid": Out(1), f"last_{kind}_syndrome": Out(CHECK_BITS),
        }
        super().__init__({
            "sources": In(ErrorSourceSignature(addr_bits)).array(n_sources),
            "crc_fail": In(1), "crc_mem": In(MEM_BITS), "crc_addr": In(addr_bits),
            "clear": In(1),
            "ce_count": Out(count_bits), "ue_count": Out(count_bits),
            **loc("ce"), **loc("ue"), "last_ue_kind": Out(2),
            "ce_event": Out(1), "ue_event": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        n = self.n_sources

        # --- input register stage ------------------------------------------------
        def reg(value, name):
            r = Signal.like(value, name=name)
            m.d.sync += r.eq(value)
            return r

        ce = [reg(s.ce, f"ce_{i}") for i, s in enumerate(self.sources)]
        ue = [reg(s.ue, f"ue_{i}") for i, s in enumerate(self.sources)]
        addr = [reg(s.addr, f"addr_{i}") for i, s in enumerate(self.sources)]
        syn = [reg(s.syndrome, f"syn_{i}") for i, s in enumerate(self.sources)]
        guard = [reg(s.guard, f"guard_{i}") for i, s in enumerate(self.sources)]
        crc_fail = reg(self.crc_fail, "crc_fail_r")
        crc_mem = reg(self.crc_mem, "crc_mem_r")
        crc_addr = reg(self.crc_addr, "crc_addr_r")
        clear = reg(self.clear, "clear_r")

        ce_any = Cat(*ce).any()
        ue_any = Cat(*ue).any()
        m.d.comb += [self.ce_event.eq(ce_any), self.ue_event.eq(ue_any | crc_fail)]

        # --- pick stage: how many events, and the lowest source of each kind -------
        # (registered, so the priority encoders never meet the compare, the counters'
        # adders or the last_* registers' enables in one cycle)
        ce_mem, ce_addr, ce_syn = Signal(MEM_BITS), Signal(self.addr_bits), Signal(CHECK_BITS)
        ue_mem, ue_addr, ue_syn, ue_guard = Signal(MEM_BITS), Signal(self.addr_bits), Signal(CHECK_BITS), Signal()
        for i in reversed(range(n)):          # later m.If overrides: source 0 has priority
            with m.If(ce[i]):
                m.d.comb += [ce_mem.eq(i), ce_addr.eq(addr[i]), ce_syn.eq(syn[i])]
            with m.If(ue[i]):
                m.d.comb += [ue_mem.eq(i), ue_addr.eq(addr[i]), ue_syn.eq(syn[i]), ue_guard.eq(guard[i])]
        p_ce_any, p_ue_any = reg(ce_any, "p_ce_any"), reg(ue_any, "p_ue_any")
        p_ce_mem, p_ce_addr, p_ce_syn = reg(ce_mem, "p_ce_mem"), reg(ce_addr, "p_ce_addr"), reg(ce_syn, "p_ce_syn")
        p_ue_mem, p_ue_addr = reg(ue_mem, "p_ue_mem"), reg(ue_addr, "p_ue_addr")
        p_ue_syn, p_ue_guard = reg(ue_syn, "p_ue_syn"), reg(ue_guard, "p_ue_guard")
        p_crc_fail, p_crc_mem, p_crc_addr = reg(crc_fail, "p_crc_fail"), reg(crc_mem, "p_crc_mem"), \
            reg(crc_addr, "p_crc_addr")
        p_ce_n = reg(sum(ce), "p_ce_n")
        p_ue_n = reg(sum(ue + [crc_fail]), "p_ue_n")
        p_clear = reg(clear, "p_clear")

        # --- saturating counters (all events of a cycle count) ---------------------
        top = (1 << self.count_bits) - 1

        def count(counter, events):
            nxt = Mux(p_clear, 0, counter) + events
            m.d.sync += counter.eq(Mux(nxt > top, top, nxt))

        count(self.ce_count, p_ce_n)
        count(self.ue_count, p_ue_n)

        # --- last error: lowest memory id wins ------------------------------------
        with m.If(p_clear):
            m.d.sync += [
                self.last_ce_valid.eq(0), self.last_ce_addr.eq(0), self.last_ce_mem.eq(0),
                self.last_ce_syndrome.eq(0),
                self.last_ue_valid.eq(0), self.last_ue_addr.eq(0), self.last_ue_mem.eq(0),
                self.last_ue_syndrome.eq(0), self.last_ue_kind.eq(UeKind.NONE),
            ]
        with m.If(p_ce_any):
            m.d.sync += [self.last_ce_valid.eq(1), self.last_ce_addr.eq(p_ce_addr),
                         self.last_ce_mem.eq(p_ce_mem), self.last_ce_syndrome.eq(p_ce_syn)]
        with m.If(p_crc_fail & (~p_ue_any | (p_crc_mem < p_ue_mem))):
            m.d.sync += [self.last_ue_valid.eq(1), self.last_ue_addr.eq(p_crc_addr),
                         self.last_ue_mem.eq(p_crc_mem), self.last_ue_syndrome.eq(0),
                         self.last_ue_kind.eq(UeKind.CRC)]
        with m.Elif(p_ue_any):
            m.d.sync += [self.last_ue_valid.eq(1), self.last_ue_addr.eq(p_ue_addr),
                         self.last_ue_mem.eq(p_ue_mem), self.last_ue_syndrome.eq(p_ue_syn),
                         self.last_ue_kind.eq(Mux(p_ue_guard, UeKind.GUARD, UeKind.SECDED))]
        return m
