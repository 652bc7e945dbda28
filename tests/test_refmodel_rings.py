"""Reference model: registers, bring-up, rings (wrap, phase, full), seq ordering, IRQ."""

import pytest

from chimney.contract import (EngineParams, ErrorCode, NdisStatus, ObjType, Opcode, COMPLETION, EVENT,
                              COMMAND, register_map, split_handle)
from chimney.sw.harness import RawHost, run_sync
from chimney.sw.refmodel import RefEngine, SimpleHostMemory
from chimney.sw.regs import Registers
from scenarios import csr as csr_scenarios

from test_refmodel_commands import SMALL, TCP, NB, tree, idx


@pytest.mark.parametrize("name", sorted(csr_scenarios.RAW_OFFSETS))
def test_csr_scenarios_on_model(name):
    """The same CSR scenarios the RTL runs (Amaranth-sim, Icarus, Verilator)."""
    eng = RefEngine(SMALL, SimpleHostMemory())
    run_sync(csr_scenarios.RAW_OFFSETS[name](Registers(eng, SMALL), SMALL))


def test_access_kinds():
    eng = RefEngine(SMALL, SimpleHostMemory())
    rm = register_map(SMALL)
    # RO constant, RW storage, RW1C, DB (reads back as stored), RWSC
    eng.set_reg("CAP_TCP", 0)
    assert eng.reg("CAP_TCP") == SMALL.n_tcp
    eng.set_reg("IRQ_MASK", 0xFFFFFFFF)
    assert eng.reg("IRQ_MASK") == 0b111
    eng.set_reg("ERRINJ_CTRL", 0x1F01)
    assert eng.reg("ERRINJ_CTRL") == 0x1F01
    eng.set_reg("SCRUB_INTERVAL", 5)
    assert eng.reg("SCRUB_INTERVAL") == 5
    eng.set_reg("CTRL", 0b10)
    assert eng.reg("CTRL") == 0b10 and eng.reg("STATUS") == 0b1000
    assert eng.reg("ERR_IRQ_MASK") == rm["ERR_IRQ_MASK"].reset


def bare(params=SMALL, cpl=1, evt=1, cmd=3):
    """A RefEngine with rings set up by hand (nothing consumed unless the test does)."""
    mem = SimpleHostMemory()
    eng = RefEngine(params, mem)
    regs = {}
    for q, log2, size in (("CMDQ", cmd, 32), ("CPLQ", cpl, 16), ("EVTQ", evt, 16)):
        r = mem.alloc(size << log2, 64)
        regs[q] = (r.addr, log2)
        eng.set_reg(f"{q}_BASE_LO", r.addr)
        eng.set_reg(f"{q}_SIZE", log2)
    eng.set_reg("IRQ_MASK", 0b111)
    eng.set_reg("CTRL", 1)
    assert eng.reg("STATUS") & 1
    return eng, mem, regs


def put_cmd(eng, mem, regs, prod, **cmd):
    base, log2 = regs["CMDQ"]
    mem.write(base + (prod % (1 << log2)) * 32, COMMAND.to_bytes(dict(dict(opcode=0, obj_type=0, tag=prod, handle=0,
                                                                          addr=0, count=0, cookie=0, rsvd=0), **cmd)))


def read_cpl(mem, regs, slot):
    base, _ = regs["CPLQ"]
    return COMPLETION.from_bytes(mem.read(base + slot * 16, 16))


def test_ring_wrap_phase_and_full_wait():
    eng, mem, regs = bare(cpl=1)                     # 2-entry completion ring
    for i in range(4):
        put_cmd(eng, mem, regs, i, tag=100 + i)
    eng.set_reg("CMDQ_PROD", 4)
    # two completions written, the third command ran and waits for space, the fourth waits
    assert eng.reg("CPLQ_PROD") == 2 and eng.reg("CMDQ_CONS") == 3
    assert eng.reg("STATUS") & 0b10                 # BUSY: a completion is pending
    assert eng.reg("CMD_COUNT") == 2
    assert [read_cpl(mem, regs, s)["tag"] for s in (0, 1)] == [100, 101]
    assert [read_cpl(mem, regs, s)["phase"] for s in (0, 1)] == [1, 1]
    eng.set_reg("CPLQ_CONS", 1)                      # one slot freed
    assert eng.reg("CPLQ_PROD") == 3 and read_cpl(mem, regs, 0)["tag"] == 102
    assert read_cpl(mem, regs, 0)["phase"] == 0 and read_cpl(mem, regs, 1)["tag"] == 101   # not overwritten
    eng.set_reg("CPLQ_CONS", 3)
    assert eng.reg("CPLQ_PROD") == 4 and eng.reg("CMDQ_CONS") == 4
    c = read_cpl(mem, regs, 1)
    assert (c["tag"], c["seq"], c["phase"]) == (103, 3, 0)
    assert not eng.reg("STATUS") & 0b10


def test_ring_wrap_many_passes_through_harness():
    h = RawHost.over_model(SMALL, cmd_log2=1, cpl_log2=1, evt_log2=1)
    seqs = []
    for i in range(11):
        c, _ = h.cmd(opcode=Opcode.NOP)
        seqs.append(c["seq"])
    assert seqs == list(range(11))
    assert h.engine.reg("CPLQ_PROD") == 11 and h.engine.reg("CMDQ_CONS") == 11


def test_cmdq_overflow_guard_and_ring_config():
    eng, mem, regs = bare(cmd=2)
    eng.set_reg("CTRL", 0)                            # disabled: commands wait
    eng.set_reg("CMDQ_PROD", 4)
    assert eng.reg("ERR_STATUS") == 0
    eng.set_reg("CMDQ_PROD", 5)
    assert eng.reg("ERR_STATUS") == 1 << ErrorCode.CMDQ_OVERFLOW
    assert eng.reg("CMDQ_PROD") == 5 and eng.cmd_prod == 4  # stored, not taken
    eng.set_reg("ERR_STATUS", 0xFFFFFFFF)
    eng.set_reg("CPLQ_SIZE", 0)
    eng.set_reg("CTRL", 1)
    assert eng.reg("ERR_STATUS") == 1 << ErrorCode.RING_CONFIG and not eng.reg("STATUS") & 1
    eng.set_reg("CPLQ_SIZE", 2)
    eng.set_reg("CPLQ_BASE_LO", regs["CPLQ"][0] + 32)
    eng.set_reg("CTRL", 1)
    assert not eng.reg("STATUS") & 1
    eng.set_reg("CPLQ_BASE_LO", regs["CPLQ"][0])
    eng.set_reg("CTRL", 1)
    assert eng.reg("STATUS") & 1 and eng.reg("CMDQ_CONS") == 4 and eng.reg("CPLQ_PROD") == 4


def test_consumer_doorbells_move_forward_up_to_the_producer():
    """A CPLQ_CONS/EVTQ_CONS doorbell past the producer, or behind the consumer, would
    let the engine overwrite entries the host has not read: ignored, CONS_OVERRUN. The
    boundaries: the producer itself and the current consumer are accepted."""
    eng, mem, regs = bare(cpl=1)                     # 2-entry completion ring
    for i in range(3):
        put_cmd(eng, mem, regs, i, tag=200 + i)
    eng.set_reg("CMDQ_PROD", 3)
    assert eng.reg("CPLQ_PROD") == 2 and eng.reg("CMDQ_CONS") == 3    # the third waits for room
    for bad in (3, 0xFFFF, 0x8002):                  # past the producer; behind; far away
        eng.set_reg("CPLQ_CONS", bad)
        assert eng.reg("ERR_STATUS") == 1 << ErrorCode.CONS_OVERRUN, bad
        eng.set_reg("ERR_STATUS", 0xFFFFFFFF)
        assert eng.reg("CPLQ_PROD") == 2 and read_cpl(mem, regs, 0)["tag"] == 200     # nothing overwritten
    eng.set_reg("CPLQ_CONS", 0)                      # the consumer as it is: accepted, no room yet
    assert eng.reg("ERR_STATUS") == 0 and eng.reg("CPLQ_PROD") == 2
    eng.set_reg("CPLQ_CONS", 2)                      # up to the producer
    assert eng.reg("ERR_STATUS") == 0 and eng.reg("CPLQ_PROD") == 3
    eng.set_reg("CPLQ_CONS", 1)                      # backwards now
    assert eng.reg("ERR_STATUS") == 1 << ErrorCode.CONS_OVERRUN
    eng.set_reg("ERR_STATUS", 0xFFFFFFFF)
    eng.set_reg("EVTQ_CONS", 1)                      # no event was written
    assert eng.reg("ERR_STATUS") == 1 << ErrorCode.CONS_OVERRUN
    assert eng.reg("IRQ_STATUS") >> 2 & 1            # an error interrupt like any other


def test_reset_restarts_all_but_the_register_file():
    """Lead decision a: CTRL.RESET restarts tables, ring indices (the engine's own copies
    of the doorbells too), seq, counters, HALTED, ENABLED; the register file (ring
    config, masks, IRQ_STATUS, ERR_STATUS, doorbell storage) is kept."""
    h = RawHost.over_model(SMALL)
    nb, pa, (t,) = tree(h)
    eng = h.engine
    h.cmd(opcode=9)                                   # BAD_OPCODE: an ERR_STATUS bit
    eng.flip("tcp_data", 3, 1)                        # a CE: counters and last-CE set
    h.query([h.entry(t, idx(pa))])
    assert eng.reg("CMD_COUNT") == 5 and eng.seq == 5 and eng.reg("ECC_CE_COUNT") == 1
    eng.set_reg("SCRATCH", 77)
    irq, err = eng.reg("IRQ_STATUS"), eng.reg("ERR_STATUS")
    doorbells = {r: eng.reg(r) for r in ("CMDQ_PROD", "CPLQ_CONS", "EVTQ_CONS")}
    assert err and doorbells["CMDQ_PROD"] == 5 and doorbells["CPLQ_CONS"] == 5
    eng.set_reg("CTRL", 0b101)                        # RESET wins over ENABLE
    for r in ("CMD_COUNT", "CMDQ_CONS", "CPLQ_PROD", "EVTQ_PROD", "QUARANTINED", "ECC_CE_COUNT",
              "ECC_LAST_CE", "SCRUB_PASSES", "DMA_ERR_INFO"):
        assert eng.reg(r) == 0, r
    assert eng.reg("STATUS") == 0b1000 and eng.seq == 0 and eng.reg("SCRATCH") == 77
    assert eng.reg("IRQ_STATUS") == irq and eng.reg("ERR_STATUS") == err
    assert {r: eng.reg(r) for r in doorbells} == doorbells           # CSR storage kept
    assert eng.cmd_prod == eng.cpl_cons == eng.evt_cons == 0         # the engine's copies restart
    assert eng.live_rows(ObjType.TCP) == []
    # re-enabling without rewriting the doorbells: nothing runs, the rings start at 0
    eng.set_reg("CTRL", 1)
    assert eng.reg("STATUS") & 1 and eng.reg("CMDQ_CONS") == 0 and eng.reg("CMD_COUNT") == 0
    h.start()
    assert h.cmd(opcode=Opcode.NOP)[0]["seq"] == 0


def test_enable_while_enabled_is_ignored():
    """Lead decision e: rings are latched only by ENABLE=1 while disabled."""
    eng, mem, regs = bare(cmd=2)
    base = regs["CPLQ"][0]
    eng.set_reg("CPLQ_BASE_LO", base + 32)           # misaligned, but not latched ...
    eng.set_reg("CTRL", 1)                            # ... ENABLE while enabled: ignored
    assert eng.reg("ERR_STATUS") == 0 and eng.reg("STATUS") & 1
    put_cmd(eng, mem, regs, 0, tag=7)
    eng.set_reg("CMDQ_PROD", 1)
    assert read_cpl(mem, regs, 0)["tag"] == 7         # written to the latched base
    eng.set_reg("CTRL", 0)
    eng.set_reg("CTRL", 1)                            # now it is checked
    assert eng.reg("ERR_STATUS") == 1 << ErrorCode.RING_CONFIG and not eng.reg("STATUS") & 1
    eng.set_reg("CPLQ_BASE_LO", 0)                    # a zero base is refused too
    eng.set_reg("CPLQ_BASE_HI", 0)
    eng.set_reg("ERR_STATUS", 0xFFFFFFFF)
    eng.set_reg("CTRL", 1)
    assert eng.reg("ERR_STATUS") == 1 << ErrorCode.RING_CONFIG and not eng.reg("STATUS") & 1


def test_command_fetch_error_halts_without_consuming():
    """Lead decision f: no tag to complete: DMA_READ, HALTED, CMDQ_CONS not advanced;
    ENABLE=1 is ignored while halted; CTRL.RESET restarts."""
    eng, mem, regs = bare(cmd=2)
    put_cmd(eng, mem, regs, 0, tag=1)
    eng.set_reg("CMDQ_PROD", 1)
    eng.fail_dma(regs["CMDQ"][0] + 32, 32, write=False)
    put_cmd(eng, mem, regs, 1, tag=2)
    eng.set_reg("CMDQ_PROD", 2)
    assert eng.reg("STATUS") & 0b101 == 0b101          # HALTED, still ENABLED
    assert eng.reg("ERR_STATUS") == 1 << ErrorCode.DMA_READ
    assert eng.reg("CMDQ_CONS") == 1 and eng.reg("CPLQ_PROD") == 1 and eng.seq == 1
    eng.clear_dma_faults()
    eng.set_reg("CTRL", 0)
    eng.set_reg("CTRL", 1)                            # ignored while halted
    assert eng.reg("STATUS") & 0b101 == 0b100 and eng.reg("CMDQ_CONS") == 1
    eng.set_reg("CTRL", 0b100)
    assert eng.reg("STATUS") == 0b1000


def test_irq_level_follows_status_and_mask():
    eng, mem, regs = bare()
    assert not eng.irq_level()
    put_cmd(eng, mem, regs, 0)
    eng.set_reg("CMDQ_PROD", 1)
    assert eng.reg("IRQ_STATUS") == 1 and eng.irq_level()
    eng.set_reg("IRQ_MASK", 0b110)
    assert not eng.irq_level()
    eng.set_reg("IRQ_MASK", 0b111)
    eng.set_reg("IRQ_STATUS", 1)
    assert not eng.irq_level() and eng.reg("IRQ_STATUS") == 0


def failing_terminate(h, ntcp=2):
    """A terminate of ntcp connections whose data words are all lost."""
    nb, pa, tcps = tree(h, ntcp)
    for t in tcps:
        h.engine.flip(*h.engine.word_addr(ObjType.TCP, "data", idx(t), 1), 0b11)
    return [h.entry(t, idx(pa), 0) for t in tcps], tcps


def test_events_take_later_seq_and_are_written_first():
    h = RawHost.over_model(SMALL, cmd_log2=2, cpl_log2=1, evt_log2=3)
    entries, tcps = failing_terminate(h)
    eng, rings = h.engine, h.rings
    # fill the completion ring so the terminate's completion must wait
    lst = h.list_addr(entries)
    run_sync(rings.submit([dict(opcode=0, tag=1, rsvd=0), dict(opcode=0, tag=2, rsvd=0),
                           dict(opcode=Opcode.TERMINATE, tag=3, addr=lst, count=2, rsvd=0)]))
    assert eng.reg("EVTQ_PROD") == 4 and eng.reg("CPLQ_PROD") - rings.cons["CPLQ"] == 2
    out = h.collect()
    kinds = [(e.kind, e.seq) for e in out]
    s = out[0].seq
    assert kinds == [("cpl", s), ("cpl", s + 1), ("cpl", s + 2)] + [("evt", s + 3 + i) for i in range(4)]
    ev = [e.fields for e in out if e.kind == "evt"]
    assert [(e["type"], e["info"], e["handle"], e["host_handle"]) for e in ev] == [
        (3, 11, tcps[0], 0x3000), (4, 0, tcps[0], 0x3000), (3, 11, tcps[1], 0x3001), (4, 0, tcps[1], 0x3001)]


def test_full_event_ring_holds_back_the_completion():
    h = RawHost.over_model(SMALL, cmd_log2=2, cpl_log2=2, evt_log2=1)
    entries, tcps = failing_terminate(h, 2)
    eng, rings = h.engine, h.rings
    run_sync(rings.submit([dict(opcode=Opcode.TERMINATE, tag=9, addr=h.list_addr(entries), count=2, rsvd=0)]))
    # 2 of 4 events written; the rest and the completion wait in order
    assert eng.reg("EVTQ_PROD") == rings.cons["EVTQ"] + 2
    assert eng.reg("CPLQ_PROD") == rings.cons["CPLQ"]
    assert eng.reg("STATUS") & 0b10
    out = h.collect()            # drains, frees event slots, the engine writes the rest
    assert [e.kind for e in out] == ["cpl", "evt", "evt", "evt", "evt"]
    assert [e.seq for e in out] == sorted(e.seq for e in out)


def test_seq_wraps_at_16_bits():
    h = RawHost.over_model(SMALL)
    h.engine.seq = 0xFFFE
    h.rings.next_seq = 0xFFFE
    assert [h.cmd(opcode=0)[0]["seq"] for _ in range(4)] == [0xFFFE, 0xFFFF, 0, 1]
