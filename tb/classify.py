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
             path or neighbor with Status FAILURE; everything else as fault-free
  sdc        any other difference: silent data corruption at the NDIS edge
  hang       the run did not finish (driver or simulator timeout)
"""

from collections import defaultdict

from chimney.contract import NdisStatus, TcpEventType, TcpUploadReason

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
    exactly one Retrieve(HardwareFailure) followed by exactly one Abort."""
    statuses = [e for e in rtl if e[0] == "status"]
    events = [e[1:] for e in rtl if e[0] == "event"]
    first = next((i for i, e in enumerate(statuses) if e[2] != NdisStatus.SUCCESS), None)
    if first is None or statuses[first][2] != NdisStatus.FAILURE:
        return False
    gold_statuses = [e for e in gold if e[0] == "status"]
    if statuses[:first] != gold_statuses[:first]:
        return False
    if any(e[2] != NdisStatus.FAILURE for e in statuses[first:]):
        return False
    if not is_tcp:
        return events == []
    return events == [(int(TcpEventType.RETRIEVE), int(TcpUploadReason.HARDWARE_FAILURE)),
                      (int(TcpEventType.ABORT), 0)]


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


def classify(rtl_log, gold_log, *, tcp_names, nbl_owner, noticed, hang=False):
    """`nbl_owner`: NBL name -> connection name. `noticed`: the hardware or driver
    reported something (ECC counters, driver consistency errors, halt)."""
    if hang:
        return "hang", "run did not finish"
    rb, rn = outcome_of(rtl_log)
    gb, gn = outcome_of(gold_log)
    failed = set()
    for name in set(rb) | set(gb):
        if rb.get(name, []) == gb.get(name, []):
            continue
        if _is_failure_sequence(rb.get(name, []), gb.get(name, []), name in tcp_names):
            failed.add(name)
            continue
        return "sdc", f"block {name}: " + _first_difference(rb.get(name, []), gb.get(name, []))
    for name in set(rn) | set(gn):
        r, g = rn.get(name, []), gn.get(name, [])
        if r == g:
            continue
        owner = nbl_owner.get(name)
        if owner in failed and r == [("complete", int(NdisStatus.REQUEST_ABORTED))]:
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
