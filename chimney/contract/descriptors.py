"""What crosses host memory: ring entries, terminate/query lists and request records.

All multi-byte fields are little-endian. Sizes are fixed so the engine can
compute addresses with shifts.
"""

from .layout import Field, Layout, reserved

COMMAND = Layout("command", [
    Field("opcode", 8, "Opcode"),
    Field("obj_type", 8, "OFFLOAD/UPDATE: ObjType of the object"),
    Field("tag", 16, "host's command tag, echoed in the completion"),
    Field("handle", 32, "POST_*: connection; OFFLOAD: parent handle (0 for a neighbor); UPDATE: object"),
    Field("addr", 64, "OFFLOAD/UPDATE: load block; QUERY/TERMINATE: entry list"),
    Field("count", 32, "QUERY/TERMINATE: list entries; POST_*: length in bytes"),
    Field("cookie", 32, "POST_*: request cookie; OFFLOAD: host offload handle"),
    reserved("rsvd", 64),
], doc="Command ring entry, 32 bytes")

COMPLETION = Layout("completion", [
    Field("status", 32, "NDIS status of the command"),
    Field("result", 32, "OFFLOAD: new handle; QUERY/TERMINATE: entries whose status word is not SUCCESS"),
    Field("tag", 16, "the command's tag"),
    Field("err_index", 16, "list index of the first refused entry, 0xFFFF if none"),
    Field("seq", 16, "global sequence number shared with the event ring"),
    Field("detail", 8, "ErrorCode of the first refusal, 0 if none"),
    Field("phase", 1, "flips each time the ring wraps; 1 on the first pass"),
    reserved("rsvd", 3),
    Field("opcode", 4, "the command's opcode"),
], doc="Completion ring entry, 16 bytes")

EVENT = Layout("event", [
    Field("handle", 32, "engine handle of the connection"),
    Field("host_handle", 32, "NdisOffloadHandle token stored at OFFLOAD (0 if lost)"),
    Field("info", 32, "EventSpecificInformation: the TCP_UPLOAD_REASON for Retrieve"),
    Field("seq", 16, "global sequence number shared with the completion ring"),
    Field("type", 8, "TCP_OFFLOAD_EVENT_TYPE"),
    Field("phase", 1, "flips each time the ring wraps; 1 on the first pass"),
    reserved("rsvd", 7),
], doc="Event ring entry, 16 bytes")

LIST_ENTRY = Layout("list_entry", [
    Field("handle", 32, "object handle (MiniportOffloadContext)"),
    Field("parent", 16, "index of the object's parent (TCP: path, path: neighbor; ignored for a neighbor)"),
    Field("req_cap", 15, "TERMINATE of a TCP connection: capacity of the request array in records"),
    Field("detached", 1, "TERMINATE of a TCP connection: 1 if an earlier TERMINATE of it completed with "
                         "FAILURE (it gave its path reference back then); read only when the row's meta word is lost"),
    Field("state_addr", 64, "delegated structure (XXX_OFFLOAD_STATE_DELEGATED, header at offset 0)"),
    Field("status_addr", 64, "the block's 32-bit Status word"),
    Field("req_addr", 64, "TERMINATE of a TCP connection: request header + records"),
], doc="One object of a QUERY or TERMINATE, 32 bytes")

REQ_HEADER = Layout("req_header", [
    Field("count", 32, "records written after this header"),
    Field("list_lost", 1, "the engine lost part of the request list: the driver completes the rest from its shadow"),
    reserved("rsvd", 31),
], doc="Written at req_addr after the records, 8 bytes")

REQ_RECORD = Layout("req_record", [
    Field("cookie", 32, "the request's cookie"),
    Field("length", 16, "bytes"),
    Field("kind", 8, "ReqKind: 0 send, 1 receive"),
    Field("disposition", 8, "Disposition"),
], doc="One returned or completed request, 8 bytes, at req_addr + 8 + 8*i, in posted order")

COMMAND_BYTES = COMMAND.width // 8
COMPLETION_BYTES = COMPLETION.width // 8
EVENT_BYTES = EVENT.width // 8
LIST_ENTRY_BYTES = LIST_ENTRY.width // 8
REQ_HEADER_BYTES = REQ_HEADER.width // 8
REQ_RECORD_BYTES = REQ_RECORD.width // 8

NO_INDEX = 0xFFFF
MAX_POST_LENGTH = 0xFFFF
MAX_LIST_ENTRIES = 0xFFFE

#: Required alignment (bytes) of each host address the engine is given.
ALIGN = {
    "ring_base": 64,
    "list_addr": 8,
    "load_addr": 8,
    "state_addr": 8,
    "status_addr": 4,
    "req_addr": 8,
}

for _lay in (COMMAND, COMPLETION, EVENT, LIST_ENTRY, REQ_HEADER, REQ_RECORD):
    assert _lay.used == _lay.width, _lay.name
