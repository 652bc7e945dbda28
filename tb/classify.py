"""Classify one fault injection by what the host stack saw, against a fault-free run.

Outcomes (docs/verification.md):
  corrected  the host stack saw exactly the fault-free outcome, and the fault was
             noticed (a corrected word, an uncorrectable word that did not matter,
             or a driver consistency report that the shadow repaired)
  masked     the host stack saw exactly the fault-free outcome and nothing noticed
             the fault (it was never read, or was overwritten first)
  detected   some objects ended differently, each exactly by the failure sequence:
             a TCP connection with Status FAILURE, Retrieve(HardwareFailure), Abort,
             and every outstanding request completed once with REQUEST_ABORTED; a
             path or neighbor with Status FAILURE; an object whose offload itself
             failed (any error status: a lost parent row, a halt during it), with no
             event and no later SUCCESS, and each of its requests refused once (any
             error status); everything else as fault-free
  sdc        any other difference: silent data corruption at the NDIS edge; or
             (evidence `used_as_intact`, the engine's own view) the engine reported
             nothing lost, yet what it did or what it holds differs from the
             fault-free run: it used a damaged word as if it were intact
  hang       the run did not finish (driver or simulator timeout)

The engine's view (`engine_view`, passed to `classify` as `engine`): when the engine
reported no loss at all (ECC_UE_COUNT 0, not halted, no INTERNAL/DMA error), the
run must match the fault-free one not only at the NDIS edge but also inside:

* what the engine wrote: every completion entry (status, result, tag, err_index,
  detail, opcode), every event (handle, host_handle, type, info) and every TERMINATE's
  request header and records, compared with the fault-free run's in order; and no
  driver consistency report (the driver's shadow repairing a wrong record hides it
  from the host, not from this check);
* what it holds: every meta word and request-pool entry after the run, decoded with
  the memory's own code (`chimney.tb.faults.decode_stored`: SECDED and the guard), equal to the fault-free run's. The
  injected word itself is left out while it still holds exactly the injected value
  (nothing read and rewrote it: a latent fault, judged by what it caused, if anything).

A single flip that is read is corrected and rewritten as the fault-free word, so it
passes; a word reported uncorrectable is judged by the NDIS edge alone, as before. The
check applies only where the NDIS edge saw exactly the fault-free run (corrected,
masked): it can turn those into sdc, never the reverse. A `detected` run keeps its
outcome: the host was given the failure sequence, even when it was the driver, not the
engine, that found the damage (its differences are still in the record).
"""

from collections import defaultdict

from chimney.contract import NdisStatus, TcpEventType, TcpUploadReason
from chimney.contract.ecc import EccStatus
from chimney.contract import EngineParams
from chimney.tb.faults import decode_stored

OUTCOMES = ("corrected", "detected", "masked", "sdc", "hang")


def outcome_of(trace):
    """Per block and per NBL, everything the host stack was told, in order.

    `trace`: chimney.tb.cosim normalised calls, snapshotted when they happened."""
    blocks = defaultdict(list)        # name -> [("status", op, status, values) | ("event", type, info)]
    nbls = defaultdict(list)          # name -> [("complete", status) | ("chained", block)]
    for call in trace:
        name = call[0]
        if name.endswith("_offload_complete"):
            for block, status, values, chain in call[1]:
                blocks[block].append(("status", name, status, values))
                for nbl in chain:
                    nbls[nbl].append(("chained", block))
        elif name == "indicate_event":
            blocks[call[1]].append(("event", call[2], call[3]))
        else:
            nbls[call[1]].append(("complete", call[2]))
    return blocks, nbls


def _is_failure_sequence(rtl, gold, is_tcp):
    """rtl/gold: a block's entries. The block ends by the failure sequence: its history
    matches the fault-free one up to a FAILURE, then only FAILURE statuses, and (TCP)
    exactly one Retrieve(HardwareFailure) followed by exactly one Abort; or, when the
    first failure completes its initiate offload (any error status: it was never
    offloaded), no event and no later SUCCESS."""
    statuses = [e for e in rtl if e[0] == "status"]
    events = [e[1:] for e in rtl if e[0] == "event"]
    first = next((i for i, e in enumerate(statuses) if e[2] != NdisStatus.SUCCESS), None)
    if first is None:
        return False
    gold_statuses = [e for e in gold if e[0] == "status"]
    if statuses[:first] != gold_statuses[:first]:
        return False
    if statuses[first][1] == "initiate_offload_complete":
        # the offload itself failed (refused for a lost parent row, or the engine halted
        # during it): nothing was offloaded, so nothing is retrieved or aborted, and the
        # host stack keeps the connection; whatever it asks of the object later fails
        return events == [] and all(e[2] != NdisStatus.SUCCESS for e in statuses[first:])
    if any(e[2] != NdisStatus.FAILURE for e in statuses[first:]):
        return False
    if not is_tcp:
        return events == []
    return events == [(int(TcpEventType.RETRIEVE), int(TcpUploadReason.HARDWARE_FAILURE)),
                      (int(TcpEventType.ABORT), 0)]


def _offload_failed(entries):
    """The block's first non-SUCCESS status completes its initiate offload."""
    first = next((e for e in entries if e[0] == "status" and e[2] != NdisStatus.SUCCESS), None)
    return first is not None and first[1] == "initiate_offload_complete"


def _brief(entry):
    if entry is None:
        return "nothing"
    if entry[0] == "status":
        try:
            status = NdisStatus(entry[2]).name
        except ValueError:
            status = hex(entry[2])
        return f"{entry[1]} {status}" + (" +values" if entry[3] else "")
    return str(entry)


def _first_difference(rtl, gold):
    for i in range(max(len(rtl), len(gold))):
        a = rtl[i] if i < len(rtl) else None
        b = gold[i] if i < len(gold) else None
        if a != b:
            extra = ""
            if a and b and a[0] == b[0] == "status" and a[3] and b[3]:
                extra = " values differ in " + ",".join(k for k in a[3] if a[3][k] != b[3].get(k))
            return f"entry {i}: rtl {_brief(a)} / fault-free {_brief(b)}{extra}"
    return "same"


def _view(word, params, mem):
    status, data, high = decode_stored(word, params, mem)
    return ("uncorrectable", high) if status == EccStatus.UNCORRECTABLE else (data, high)


def engine_view(rtl_out, gold_out, rtl_words, gold_words, *, injected=None, driver_errors=(), params=None,
                describe=None):
    """Differences between the engine's own view of the faulty run and the fault-free one.

    `rtl_out`/`gold_out`: what each engine wrote, in order (tuples, see
    cocotb_campaign.EngineLog). `rtl_words`/`gold_words`: (memory, address) -> stored word
    after the run (meta words and pool entries). `injected`: (memory, address, stored word
    right after the injection), left out while unchanged. `driver_errors`: the faulty run's
    driver consistency reports (halts excluded). `describe(mem, addr, a, b)`: optional
    text for a word difference. Returns a list of short strings (empty: same view)."""
    params = params or EngineParams()
    diffs = [f"driver: {e}" for e in driver_errors]
    for i in range(max(len(rtl_out), len(gold_out))):
        a = rtl_out[i] if i < len(rtl_out) else None
        b = gold_out[i] if i < len(gold_out) else None
        if a != b:
            diffs.append(f"output {i}: rtl {a} / fault-free {b}")
            break
    for key in sorted(set(rtl_words) | set(gold_words)):
        a, b = rtl_words.get(key), gold_words.get(key)
        if injected is not None and key == tuple(injected[:2]) and a == injected[2]:
            continue                  # untouched since the injection: latent
        if a == b or (a is not None and b is not None and _view(a, params, key[0]) == _view(b, params, key[0])):
            continue
        mem, addr = key
        text = describe(mem, addr, a, b) if describe else f"{a:#x} / fault-free {b:#x}"
        diffs.append(f"holds {mem}[{addr}]: {text}")
    return diffs


def classify(rtl_log, gold_log, *, tcp_names, nbl_owner, noticed, hang=False, engine=None):
    """`nbl_owner`: NBL name -> connection name. `noticed`: the hardware or driver
    reported something (ECC counters, driver consistency errors, halt). `engine`:
    {"reported": the engine reported a loss (uncorrectable, halt), "differences":
    engine_view(...)}; None: the NDIS edge alone, as the first campaigns judged."""
    if hang:
        return "hang", "run did not finish"
    outcome, why = _host_view(rtl_log, gold_log, tcp_names=tcp_names, nbl_owner=nbl_owner, noticed=noticed)
    if outcome in ("corrected", "masked") and engine and not engine["reported"] and engine["differences"]:
        return "sdc", "used_as_intact: " + "; ".join(engine["differences"][:4])
    return outcome, why


def _host_view(rtl_log, gold_log, *, tcp_names, nbl_owner, noticed):
    rb, rn = outcome_of(rtl_log)
    gb, gn = outcome_of(gold_log)
    failed, not_offloaded = set(), set()
    for name in set(rb) | set(gb):
        if rb.get(name, []) == gb.get(name, []):
            continue
        if _is_failure_sequence(rb.get(name, []), gb.get(name, []), name in tcp_names):
            failed.add(name)
            if _offload_failed(rb.get(name, [])):
                not_offloaded.add(name)
            continue
        return "sdc", f"block {name}: " + _first_difference(rb.get(name, []), gb.get(name, []))
    for name in set(rn) | set(gn):
        r, g = rn.get(name, []), gn.get(name, [])
        if r == g:
            continue
        owner = nbl_owner.get(name)
        if owner in failed and r == [("complete", int(NdisStatus.REQUEST_ABORTED))]:
            continue
        # a request on a connection that was never offloaded: refused, once, any error
        if owner in not_offloaded and len(r) == 1 and r[0][0] == "complete" and r[0][1] != NdisStatus.SUCCESS:
            continue
        return "sdc", f"nbl {name} of {owner}: {r} != {g}"
    # every request still has exactly one ending
    for name in nbl_owner:
        ends = rn.get(name, [])
        if len(ends) > 1:
            return "sdc", f"nbl {name} ended {len(ends)} times: {ends}"
    if failed:
        return "detected", f"failure sequence on {sorted(failed)}"
    return ("corrected", "recovered") if noticed else ("masked", "never read")
