"""NDIS values and the engine's own enumerations (opcodes, object types, error details).

NDIS numbers are those of the public ndis.h / ndischimney.h headers
(see ../shared/spec/ndis-terminate.md). Everything else here is this engine's choice.
"""

from enum import IntEnum


class NdisStatus(IntEnum):
    SUCCESS = 0x00000000
    PENDING = 0x00000103
    FAILURE = 0xC0000001
    INVALID_PARAMETER = 0xC000000D
    RESOURCES = 0xC000009A
    DEVICE_DATA_ERROR = 0xC000009C
    NOT_SUPPORTED = 0xC00000BB
    REQUEST_ABORTED = 0xC001000C
    INVALID_LENGTH = 0xC0010014
    INVALID_ADDRESS = 0xC0010022
    UPLOAD_IN_PROGRESS = 0xC0231001
    REQUEST_UPLOAD = 0xC0231002
    UPLOAD_REQUESTED = 0xC0231003


class TcpEventType(IntEnum):
    """TCP_OFFLOAD_EVENT_TYPE"""
    SEND_BACKLOG_CHANGE = 1
    DISCONNECT = 2
    RETRIEVE = 3
    ABORT = 4


class TcpUploadReason(IntEnum):
    """TCP_UPLOAD_REASON"""
    LOW_ACTIVITY = 1
    HIGH_DROP_RATE = 2
    SMALL_IO = 3
    NO_BUFFER_PREPOSTING = 4
    RECEIVED_URGENT_DATA = 5
    HIGH_FRAGMENTATION = 6
    HIGH_OUT_OF_ORDER_PACKETS = 7
    TIMEOUT_EXPIRATION = 8
    INVALID_STATE = 9
    UPLOAD_REQUESTED = 10
    HARDWARE_FAILURE = 11


class TcpConnectionState(IntEnum):
    """TCP_OFFLOAD_CONNECTION_STATE"""
    CLOSED = 0
    LISTEN = 1
    SYN_SENT = 2
    SYN_RCVD = 3
    ESTABLISHED = 4
    FIN_WAIT1 = 5
    FIN_WAIT2 = 6
    CLOSE_WAIT = 7
    CLOSING = 8
    LAST_ACK = 9
    TIME_WAIT = 10


class ObjType(IntEnum):
    """State object kinds; also the type field of a handle. 0 is never valid."""
    NEIGHBOR = 1
    PATH = 2
    TCP = 3


class Opcode(IntEnum):
    NOP = 0
    OFFLOAD = 1
    POST_SEND = 2
    POST_RECV = 3
    QUERY = 4
    TERMINATE = 5
    UPDATE = 6


class ReqKind(IntEnum):
    SEND = 0
    RECV = 1


class Disposition(IntEnum):
    """What a request record tells the driver to do with that request."""
    RETURNED = 1               # send handed back: goes into NetBufferListChain, in order
    UPLOAD_IN_PROGRESS = 2     # receive: complete with NDIS_STATUS_UPLOAD_IN_PROGRESS
    ABORTED = 3                # complete with NDIS_STATUS_REQUEST_ABORTED

    def ndis_status(self):
        return {Disposition.RETURNED: NdisStatus.SUCCESS,
                Disposition.UPLOAD_IN_PROGRESS: NdisStatus.UPLOAD_IN_PROGRESS,
                Disposition.ABORTED: NdisStatus.REQUEST_ABORTED}[self]


class ErrorCode(IntEnum):
    """Why a command or list entry was refused, or what went wrong.

    The value is the `detail` byte of a completion and the bit number in ERR_STATUS.
    """
    NONE = 0
    BAD_OPCODE = 1         # unknown opcode                      -> NOT_SUPPORTED
    BAD_HANDLE = 2         # type, range, reserved bits          -> INVALID_PARAMETER
    STALE_HANDLE = 3       # generation mismatch / not offloaded -> INVALID_PARAMETER
    DUPLICATE = 4          # same object twice in one command    -> INVALID_PARAMETER
    ORDER = 5              # path/neighbor still has dependents  -> INVALID_PARAMETER
    PARENT = 6             # bad, failed or mismatched parent    -> INVALID_PARAMETER
    BAD_ADDRESS = 7        # null or misaligned host address     -> INVALID_ADDRESS
    BAD_LENGTH = 8         # zero/oversized length, zero count   -> INVALID_LENGTH
    CAPACITY = 9           # request array smaller than needed   -> INVALID_PARAMETER
    TABLE_FULL = 10        # no free row or request entry        -> RESOURCES
    BAD_STATE = 11         # load block value out of range       -> INVALID_PARAMETER
    CONN_FAILED = 12       # post to a connection whose state was lost -> REQUEST_ABORTED
    DMA_READ = 13          # read error response or timeout      -> DEVICE_DATA_ERROR
    DMA_WRITE = 14         # write error response or timeout: engine halts
    CMDQ_OVERFLOW = 15     # producer doorbell beyond ring size (doorbell ignored)
    RING_CONFIG = 16       # bad ring base/size at enable (engine stays disabled)
    ECC_CORRECTED = 17     # a single-bit error was corrected (informational)
    ECC_UNCORRECTABLE = 18 # a multi-bit error or row check failure was detected
    INTERNAL = 19          # invariant broken (e.g. free-list damage): reported, contained
    CONS_OVERRUN = 20      # CPLQ_CONS/EVTQ_CONS doorbell behind the consumer or past the producer (ignored)


#: Completion status for each refusal reason.
ERROR_STATUS = {
    ErrorCode.NONE: NdisStatus.SUCCESS,
    ErrorCode.BAD_OPCODE: NdisStatus.NOT_SUPPORTED,
    ErrorCode.BAD_HANDLE: NdisStatus.INVALID_PARAMETER,
    ErrorCode.STALE_HANDLE: NdisStatus.INVALID_PARAMETER,
    ErrorCode.DUPLICATE: NdisStatus.INVALID_PARAMETER,
    ErrorCode.ORDER: NdisStatus.INVALID_PARAMETER,
    ErrorCode.PARENT: NdisStatus.INVALID_PARAMETER,
    ErrorCode.BAD_ADDRESS: NdisStatus.INVALID_ADDRESS,
    ErrorCode.BAD_LENGTH: NdisStatus.INVALID_LENGTH,
    ErrorCode.CAPACITY: NdisStatus.INVALID_PARAMETER,
    ErrorCode.TABLE_FULL: NdisStatus.RESOURCES,
    ErrorCode.BAD_STATE: NdisStatus.INVALID_PARAMETER,
    ErrorCode.CONN_FAILED: NdisStatus.REQUEST_ABORTED,
    ErrorCode.DMA_READ: NdisStatus.DEVICE_DATA_ERROR,
    ErrorCode.INTERNAL: NdisStatus.FAILURE,
}
