"""The state tables: the ten ECC-protected memories of `chimney.contract.MEMORIES`.

Each memory is an `EccMemory` submodule named after it, so its arrays appear in
the Verilog as `tables.<name>.mem` (or `mem0`, `mem1`, ... when it is banked), recorded
in the name map with the first word of each bank and the memory's write register. Two clients share
the memories: the command engine and the patrol scrubber; `owner` picks which one
drives the ports (the engine grants the scrubber only between commands, so the
mux never switches under a transaction).

Timing contract for the clients: a request (rd_en/rd_addr, wr_en/wr_addr/wr_data) is
registered here after the owner mux and reaches the memory one cycle after the client
drives it, so rd_valid comes `ram_latency + 1` cycles after the client's rd_en, and a
write is in the memory one cycle later than the client's write cycle. Reads and writes
are delayed alike: a read still sees every write of an earlier cycle and the write of
its own cycle, in order. A request issued in the last cycle before `owner` changes is
still carried out (it was registered with the owner of its cycle); its rd_valid reaches
both clients, as every rd_valid does. Error injection: `inj_arm`/`inj_mem` are
registered per memory and `inj_done` is registered (each a cycle later). After reset, and on `init`, a walker
zeroes every meta word and pool entry (an all-zero word is a valid codeword and
means "free, generation 0").
"""

from amaranth.hdl import Module, Signal, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from chimney.contract import EngineParams, MEMORIES, guard_split, memory_depth
from chimney.contract.layout import bits_for

from .eccmem import EccMemory
from .ecc_status import EccReporter


def mem_port_signature(depth):
    abits = bits_for(depth)
    return wiring.Signature({
        "rd_addr": Out(abits), "rd_en": Out(1),
        "rd_valid": In(1), "rd_data": In(64), "rd_ce": In(1), "rd_ue": In(1),
        "wr_addr": Out(abits), "wr_en": Out(1), "wr_data": Out(64),
    })


def table_memory(params: EngineParams, name):
    """The EccMemory StateTables builds for memory `name` (also synthesised alone by
    `python -m chimney.synth --component eccmem_<name>`)."""
    return EccMemory(memory_depth(params, name), ecc=params.ecc, latency=params.ram_latency,
                     guard_in=(guard_split(params, name) or (None,))[0])


def tables_signature(params: EngineParams):
    """A client's view of all memories, one member per memory name."""
    return wiring.Signature({name: Out(mem_port_signature(memory_depth(params, name)))
                             for name, _, _ in MEMORIES})


class StateTables(wiring.Component):
    ENGINE, SCRUBBER = 0, 1

    def __init__(self, params: EngineParams = EngineParams()):
        self.params = params
        self.mems = {name: table_memory(params, name) for name, _, _ in MEMORIES}
        n = len(MEMORIES)
        super().__init__({
            "engine": In(tables_signature(params)),
            "scrub": In(tables_signature(params)),
            "owner": In(1),
            "init": In(1), "ready": Out(1),
            # error injection (ERRINJ_*): flip the next client write to memory `inj_mem`
            "inj_arm": In(1), "inj_mem": In(5), "inj_mask": In(72), "inj_done": Out(1),
            # row-check failures found by the engine or scrubber, for the reporter
            "crc_fail": In(1), "crc_mem": In(5), "crc_addr": In(24),
            "ecc_clear": In(1),
            "ce_count": Out(32), "ue_count": Out(32),
            "last_ce_addr": Out(24), "last_ce_mem": Out(5), "last_ce_valid": Out(1), "last_ce_syndrome": Out(8),
            "last_ue_addr": Out(24), "last_ue_mem": Out(5), "last_ue_valid": Out(1), "last_ue_syndrome": Out(8),
            "last_ue_kind": Out(2),
            "ce_event": Out(1), "ue_event": Out(1),
        })

    def memory_paths(self):
        """{memory name: [(path of a bank's array, first word, words)]}, banks in address order."""
        return {name: [((name, sub), base, depth) for sub, base, depth in mem.bank_names()]
                for name, mem in self.mems.items()}

    def write_registers(self):
        """{memory name: (wq_en, wq_addr, wq_code)}: the word each memory is about to write
        (`EccMemory`: a back door reads and writes that word there)."""
        return {name: (mem.wq_en, mem.wq_addr, mem.wq_code) for name, mem in self.mems.items()}

    def elaborate(self, platform):
        m = Module()
        m.submodules.reporter = rep = EccReporter(len(MEMORIES))

        # init walker: zero every meta word and pool entry
        init_kinds = ("meta", "pool")
        walk_len = max(memory_depth(self.params, n) for n, _, k in MEMORIES if k in init_kinds)
        walk = Signal(range(walk_len + 1), init=0)
        walking = Signal(init=1)
        with m.If(self.init):
            m.d.sync += [walk.eq(0), walking.eq(1)]
        with m.Elif(walking):
            m.d.sync += walk.eq(walk + 1)
            with m.If(walk == walk_len - 1):
                m.d.sync += walking.eq(0)
        m.d.comb += self.ready.eq(~walking & ~self.init)

        inj_done_any = Signal()
        for mem_id, (name, _, kind) in enumerate(MEMORIES):
            mem = self.mems[name]
            m.submodules[name] = mem
            eng, scr = getattr(self.engine, name), getattr(self.scrub, name)
            depth = memory_depth(self.params, name)
            sel = self.owner == self.SCRUBBER
            # the request of this cycle (owner's, or the walker's), registered on its way to
            # the memory: the owner mux and the walker never meet the memory's own logic
            rq = {"rd_addr": Signal.like(mem.rd_addr, name=f"{name}_q_rd_addr"),
                  "rd_en": Signal(name=f"{name}_q_rd_en"),
                  "wr_addr": Signal.like(mem.wr_addr, name=f"{name}_q_wr_addr"),
                  "wr_en": Signal(name=f"{name}_q_wr_en"),
                  "wr_data": Signal.like(mem.wr_data, name=f"{name}_q_wr_data"),
                  "walk": Signal(name=f"{name}_q_walk")}
            m.d.sync += [
                rq["rd_addr"].eq(Mux(sel, scr.rd_addr, eng.rd_addr)),
                rq["rd_en"].eq(Mux(sel, scr.rd_en, eng.rd_en) & ~walking),
                rq["wr_addr"].eq(Mux(sel, scr.wr_addr, eng.wr_addr)),
                rq["wr_en"].eq(Mux(sel, scr.wr_en, eng.wr_en) & ~walking),
                rq["wr_data"].eq(Mux(sel, scr.wr_data, eng.wr_data)),
                rq["walk"].eq(walking),
            ]
            if kind in init_kinds:
                with m.If(walking & (walk < depth)):
                    m.d.sync += [rq["wr_addr"].eq(walk), rq["wr_en"].eq(1), rq["wr_data"].eq(0)]
            m.d.comb += [getattr(mem, k).eq(v) for k, v in rq.items() if k != "walk"]
            for client in (eng, scr):
                m.d.comb += [
                    client.rd_valid.eq(mem.rd_valid), client.rd_data.eq(mem.rd_data),
                    client.rd_ce.eq(mem.rd_ce), client.rd_ue.eq(mem.rd_ue),
                ]
            # the arm registered per memory (a cycle later; EccMemory arms once per ARM level);
            # the reset walk's clearing writes never take an armed injection (q_walk: the
            # registered request is the walker's)
            arm = Signal(name=f"{name}_inj_arm")
            m.d.sync += arm.eq(self.inj_arm & (self.inj_mem == mem_id))
            m.d.comb += [
                mem.inj_arm.eq(arm & ~rq["walk"]),
                mem.inj_mask.eq(self.inj_mask),
            ]
            with m.If(mem.inj_done):
                m.d.comb += inj_done_any.eq(1)
            src = rep.sources[mem_id]
            m.d.comb += [
                src.ce.eq(mem.ev_ce), src.ue.eq(mem.ev_ue),
                src.addr.eq(mem.ev_addr), src.syndrome.eq(mem.ev_syndrome), src.guard.eq(mem.ev_guard),
            ]
        inj_done_r = Signal()                  # registered: the OR of ten memories across the die
        m.d.sync += inj_done_r.eq(inj_done_any)
        m.d.comb += [
            self.inj_done.eq(inj_done_r),
            rep.crc_fail.eq(self.crc_fail), rep.crc_mem.eq(self.crc_mem), rep.crc_addr.eq(self.crc_addr),
            rep.clear.eq(self.ecc_clear),
            self.ce_count.eq(rep.ce_count), self.ue_count.eq(rep.ue_count),
            self.last_ce_addr.eq(rep.last_ce_addr), self.last_ce_mem.eq(rep.last_ce_mem),
            self.last_ce_valid.eq(rep.last_ce_valid), self.last_ce_syndrome.eq(rep.last_ce_syndrome),
            self.last_ue_addr.eq(rep.last_ue_addr), self.last_ue_mem.eq(rep.last_ue_mem),
            self.last_ue_valid.eq(rep.last_ue_valid), self.last_ue_syndrome.eq(rep.last_ue_syndrome),
            self.last_ue_kind.eq(rep.last_ue_kind),
            self.ce_event.eq(rep.ce_event), self.ue_event.eq(rep.ue_event),
        ]
        return m
