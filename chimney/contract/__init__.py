"""The hardware/software contract of the chimney engine, defined once.

RTL decode (`chimney.rtl`), the driver's constants (`chimney.sw`), docs/interface.md,
build/regmap.json and build/chimney_regs.h are all generated from these modules.
"""

from .params import EngineParams, DEFAULT, VERSION
from .status import (NdisStatus, TcpEventType, TcpUploadReason, TcpConnectionState, ObjType,
                     Opcode, ReqKind, Disposition, ErrorCode, ERROR_STATUS)
from .layout import Field, Layout, Union
from .rows import (TCP_DATA, PATH_DATA, NEIGHBOR_DATA, DATA, IDENT, HANDLE, CACHED_FIELDS,
                   MEMORIES, MEMORY_ID, data_words, cached_mask, meta_layout, pool_layout,
                   make_handle, split_handle, memory_id, memory_depth, guard_split, word_code,
                   stored_width)
from .descriptors import (COMMAND, COMPLETION, EVENT, LIST_ENTRY, REQ_HEADER, REQ_RECORD,
                          COMMAND_BYTES, COMPLETION_BYTES, EVENT_BYTES, LIST_ENTRY_BYTES,
                          REQ_HEADER_BYTES, REQ_RECORD_BYTES, NO_INDEX, MAX_POST_LENGTH,
                          MAX_LIST_ENTRIES, ALIGN)
from .ndis import WRITE_BACK, DELEGATED
from .regmap import register_map, RegisterMap, Register, RegField, IRQ_BITS, ID_VALUE
from . import ecc
