"""The pool reclaimer: frees request-pool entries that no live list reaches (issue 17).

A lost word can cut entries off from every list: a poisoned connection's whole list
(its head, tail and count were in the lost meta word) or the entries after a lost pool
entry. Nothing ever walks them again, so they would stay `used` until `CTRL.RESET`.
`SCRUB_CTRL.RECLAIM` runs one mark-and-sweep over the tables, between commands, holding
the tables for the whole run (commands wait), so no list changes under it:

  CLEAR   the mark bit of every pool entry to 0 (one a cycle)
  MARK    every TCP row whose meta word reads (no uncorrectable error), offloaded and
          not poisoned: its tail entry (POST links after it, so it must stay owned),
          then its list from the head, `req_count` entries, for as long as each entry
          reads, is used and is not poisoned (where the engine's own walk would stop)
  SWEEP   every pool entry that reads, is used, is not poisoned (quarantined) and is not
          marked: written 0 (free) and counted

One read is outstanding at a time; the outcome of each is registered before it is acted
on. About 6 * (n_tcp + walked entries + n_req) + n_req cycles. An uncorrectable word
met on the way is counted by the memory (`ECC_UE_COUNT`) like any read and left to the
patrol scrubber; its row or entry is simply not marked or not freed.

Ports: `tables` (the scrubber's table port, merged with the scrubber's: they never run
together), `grant` (the engine leaves the tables to the scrubber side and the scrubber
is between steps), `start` (SCRUB_CTRL.RECLAIM is 1), `busy` (hold the grant), `done`
(one-cycle pulse at the end: clears SCRUB_CTRL.RECLAIM), `freed` (entries freed by all
runs, saturating: the RECLAIMED register).
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring, data
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from chimney.contract import EngineParams, ObjType, meta_layout, pool_layout

from .tables import tables_signature

__all__ = ["PoolReclaimer"]


class PoolReclaimer(wiring.Component):
    def __init__(self, params: EngineParams = EngineParams()):
        self.params = params
        super().__init__({
            "tables": Out(tables_signature(params)),
            "grant": In(1), "start": In(1),
            "busy": Out(1), "done": Out(1),
            "freed": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        p = self.params
        m.submodules.marks = marks = Memory(shape=1, depth=p.n_req, init=[])
        mark_wr, mark_rd = marks.write_port(), marks.read_port()

        meta, pool = self.tables.tcp_meta, self.tables.req_pool
        mlay, play = meta_layout(p, ObjType.TCP).amaranth(), pool_layout(p).amaranth()
        row = Signal(range(p.n_tcp))
        at = Signal(range(p.n_req))                 # the entry being walked or swept
        left = Signal(range(p.n_req + 2))           # entries of the list still to walk
        # the registered outcome of the last read
        seen_ue, seen = Signal(), Signal(64)
        sm, se = data.View(mlay, seen), data.View(play, seen)
        m.d.comb += [mark_wr.data.eq(1), mark_rd.addr.eq(at)]

        def read(step, port, addr, *also):
            """STEP_RD issues the read, STEP_WAIT registers its outcome (and `also`), then
            STEP_SEEN acts on it: no read response reaches a decision in its own cycle."""
            with m.State(f"{step}_RD"):
                m.d.comb += [port.rd_en.eq(1), port.rd_addr.eq(addr)]
                m.next = f"{step}_WAIT"
            with m.State(f"{step}_WAIT"):
                with m.If(port.rd_valid):
                    m.d.sync += [seen_ue.eq(port.rd_ue), seen.eq(port.rd_data), *also]
                    m.next = f"{step}_SEEN"

        marked = Signal()
        with m.FSM(name="reclaim") as fsm:
            m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
            with m.State("IDLE"):
                with m.If(self.start & self.grant):
                    # `busy` from the next cycle on; the first write is issued now, under
                    # this cycle's grant (as the scrubber's first read)
                    m.d.comb += [mark_wr.en.eq(1), mark_wr.addr.eq(0), mark_wr.data.eq(0)]
                    m.d.sync += at.eq(1)
                    m.next = "CLEAR"

            with m.State("CLEAR"):
                m.d.comb += [mark_wr.en.eq(1), mark_wr.addr.eq(at), mark_wr.data.eq(0)]
                m.d.sync += at.eq(at + 1)
                with m.If(at == p.n_req - 1):
                    m.d.sync += row.eq(0)
                    m.next = "ROW_RD"

            read("ROW", meta, row)
            with m.State("ROW_SEEN"):
                live = sm.u.live
                with m.If(~seen_ue & sm.valid & ~sm.poisoned & (live.req_count != 0)):
                    m.d.comb += [mark_wr.en.eq(1), mark_wr.addr.eq(live.req_tail)]
                    m.d.sync += [at.eq(live.req_head), left.eq(live.req_count)]
                    m.next = "WALK_RD"
                with m.Else():
                    m.next = "NEXT_ROW"

            read("WALK", pool, at)
            with m.State("WALK_SEEN"):
                with m.If(~seen_ue & se.used & ~se.poisoned):
                    m.d.comb += [mark_wr.en.eq(1), mark_wr.addr.eq(at)]
                    m.d.sync += [left.eq(left - 1), at.eq(se.next)]
                    m.next = "WALK_NEXT"
                with m.Else():
                    m.next = "NEXT_ROW"             # the list is cut here

            with m.State("WALK_NEXT"):
                with m.If(left == 0):
                    m.next = "NEXT_ROW"
                with m.Else():
                    m.next = "WALK_RD"

            with m.State("NEXT_ROW"):
                m.d.sync += row.eq(row + 1)
                with m.If(row == p.n_tcp - 1):
                    m.d.sync += at.eq(0)
                    m.next = "SWEEP_RD"
                with m.Else():
                    m.next = "ROW_RD"

            # the mark of `at` is read continuously (mark_rd.addr = at, one cycle late):
            # it is current by the time the pool entry arrives
            read("SWEEP", pool, at, marked.eq(mark_rd.data))

            with m.State("SWEEP_SEEN"):
                with m.If(~seen_ue & se.used & ~se.poisoned & ~marked):
                    m.d.comb += [pool.wr_en.eq(1), pool.wr_addr.eq(at), pool.wr_data.eq(0)]
                    with m.If(self.freed != 0xFFFF_FFFF):
                        m.d.sync += self.freed.eq(self.freed + 1)
                m.d.sync += at.eq(at + 1)
                with m.If(at == p.n_req - 1):
                    m.next = "DONE"
                with m.Else():
                    m.next = "SWEEP_RD"

            with m.State("DONE"):
                m.d.comb += self.done.eq(1)
                m.next = "IDLE"
        return m
