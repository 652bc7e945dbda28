"""The host stack as the driver sees it: NDIS's side of the miniport's upper edge.

`HostStack` lists the callbacks (NdisMInitiateOffloadComplete, NdisMTerminateOffloadComplete,
NdisTcpOffloadEventHandler, NdisTcpOffloadSendComplete / ReceiveComplete ...).
`RecordingHostStack` records every callback in order; tests assert on its log.
"""

from dataclasses import dataclass
from typing import Protocol

from chimney.contract import NdisStatus, TcpEventType


class HostStack(Protocol):
    def initiate_offload_complete(self, tree) -> None: ...
    def terminate_offload_complete(self, tree) -> None: ...
    def query_offload_complete(self, tree) -> None: ...
    def update_offload_complete(self, tree) -> None: ...
    def indicate_event(self, block, event_type, info) -> None: ...
    def send_complete(self, nbl, status) -> None: ...
    def receive_complete(self, nbl, status) -> None: ...


@dataclass
class Call:
    name: str           # the callback's name
    obj: object         # tree / block / nbl
    a: object = None    # event type or status
    b: object = None    # event info

    def __repr__(self):
        extra = ""
        if self.name == "indicate_event":
            extra = f" {TcpEventType(self.a).name} info={self.b}"
        elif self.a is not None:
            try:
                extra = f" {NdisStatus(self.a).name}"
            except ValueError:
                extra = f" {self.a:#x}"
        return f"<{self.name} {self.obj!r}{extra}>"


class RecordingHostStack:
    """Records every callback in order (`log`), and keeps each NBL's completions."""

    def __init__(self):
        self.log = []
        self.completions = {}         # id(nbl) -> [status, ...]

    def _add(self, *args):
        self.log.append(Call(*args))

    def initiate_offload_complete(self, tree):
        self._add("initiate_offload_complete", tree)

    def terminate_offload_complete(self, tree):
        self._add("terminate_offload_complete", tree)

    def query_offload_complete(self, tree):
        self._add("query_offload_complete", tree)

    def update_offload_complete(self, tree):
        self._add("update_offload_complete", tree)

    def indicate_event(self, block, event_type, info):
        self._add("indicate_event", block, int(event_type), info)

    def send_complete(self, nbl, status):
        nbl.status = status
        self.completions.setdefault(id(nbl), []).append(int(status))
        self._add("send_complete", nbl, int(status))

    def receive_complete(self, nbl, status):
        nbl.status = status
        self.completions.setdefault(id(nbl), []).append(int(status))
        self._add("receive_complete", nbl, int(status))

    # --- queries for tests -------------------------------------------------------------
    def calls(self, name=None):
        return [c for c in self.log if name is None or c.name == name]

    def names(self):
        return [c.name for c in self.log]

    def clear(self):
        self.log.clear()
