"""chimney.tb.faults without a simulator: word addresses across banks and the write
register, on a stand-in for cocotb's handle tree."""

from types import SimpleNamespace

from chimney.tb.faults import Fault, RtlFaults


class Handle:
    def __init__(self, value=0):
        self.value = value


def fake(depths=(4, 4, 2)):
    banks = [[Handle() for _ in range(d)] for d in depths]
    wq = SimpleNamespace(en=Handle(0), addr=Handle(0), code=Handle(0))
    mem = SimpleNamespace(**{f"mem{i}": b for i, b in enumerate(banks)},
                          wq_en=wq.en, wq_addr=wq.addr, wq_code=wq.code)
    dut = SimpleNamespace(tables=SimpleNamespace(m=mem))
    entry, base = {"width": 72, "depth": sum(depths), "banks": [],
                   "write_register": {"en": "tables.m.wq_en", "addr": "tables.m.wq_addr",
                                      "code": "tables.m.wq_code"}}, 0
    for i, d in enumerate(depths):
        entry["banks"].append({"path": f"tables.m.mem{i}", "base": base, "depth": d})
        base += d
    return RtlFaults(dut, {"memories": {"m": entry}, "signals": {}}), banks, wq


def test_words_reach_their_bank():
    faults, banks, _ = fake()
    faults.poke("m", 9, 0xAB)
    assert banks[2][1].value == 0xAB and faults.peek("m", 9) == 0xAB
    assert faults.flip("m", 5, 0b101) == 0 and banks[1][1].value == 0b101
    faults.apply(Fault("word", "m", 0, value=7))
    assert banks[0][0].value == 7
    assert faults.array("m")[9].value == 0xAB          # what the campaign reads after a run
    faults.array("m")[3].value = 0x11
    assert banks[0][3].value == 0x11


def test_a_word_in_the_write_register_is_read_and_written_there():
    faults, banks, wq = fake()
    wq.en.value, wq.addr.value, wq.code.value = 1, 6, 0x55      # word 6 about to be written
    assert faults.peek("m", 6) == 0x55 and faults.peek("m", 7) == 0
    faults.flip("m", 6, 0x0F)
    assert (wq.code.value, banks[1][2].value) == (0x5A, 0x5A), "the deposit must survive the pending write"
    wq.en.value = 0
    assert faults.peek("m", 6) == 0x5A
