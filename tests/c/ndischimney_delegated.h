/* The delegated-state declarations of ndischimney.h, transcribed by hand from the public
 * WDK reference (learn.microsoft.com, windows-hardware/drivers/ddi/ndischimney:
 * _OFFLOAD_STATE_HEADER, _TCP_OFFLOAD_STATE_DELEGATED, _PATH_OFFLOAD_STATE_DELEGATED,
 * _NEIGHBOR_OFFLOAD_STATE_DELEGATED), independently of chimney/contract/ndis.py.
 *
 * The Windows base types are given their x64 (LLP64) sizes, so a Linux x86-64 compiler lays
 * the structures out as the Windows x64 compiler does: natural alignment, 32-bit ULONG,
 * 64-bit pointers, 32-bit enums. */
#ifndef NDISCHIMNEY_DELEGATED_H
#define NDISCHIMNEY_DELEGATED_H

#include <stdint.h>

typedef uint32_t ULONG;
typedef uint16_t USHORT;
typedef uint8_t UCHAR;
typedef struct _NET_BUFFER_LIST NET_BUFFER_LIST, *PNET_BUFFER_LIST;

_Static_assert(sizeof(void *) == 8, "the x64 ABI: 64-bit pointers");

typedef enum _TCP_OFFLOAD_CONNECTION_STATE {
    TcpConnectionClosed,
    TcpConnectionListen,
    TcpConnectionSynSent,
    TcpConnectionSynRcvd,
    TcpConnectionEstablished,
    TcpConnectionFinWait1,
    TcpConnectionFinWait2,
    TcpConnectionCloseWait,
    TcpConnectionClosing,
    TcpConnectionLastAck,
    TcpConnectionTimeWait,
    TcpConnectionMaxState
} TCP_OFFLOAD_CONNECTION_STATE, *PTCP_OFFLOAD_CONNECTION_STATE;

typedef struct _OFFLOAD_STATE_HEADER {
    ULONG Length;
    ULONG RecognizedOptions;
} OFFLOAD_STATE_HEADER, *POFFLOAD_STATE_HEADER;

typedef struct _TCP_OFFLOAD_STATE_DELEGATED {
    OFFLOAD_STATE_HEADER Header;
    TCP_OFFLOAD_CONNECTION_STATE State;
    USHORT Flags;
    ULONG RcvNxt;
    ULONG RcvWnd;
    ULONG SndUna;
    ULONG SndNxt;
    ULONG SndMax;
    ULONG SndWnd;
    ULONG MaxSndWnd;
    ULONG SendWL1;
    ULONG CWnd;
    ULONG SsThresh;
    USHORT SRtt;
    USHORT RttVar;
    ULONG TsRecent;
    ULONG TsRecentAge;
    ULONG TsTime;
    ULONG TotalRT;
    UCHAR DupAckCount;
    UCHAR SndWndProbeCount;
    struct {
        UCHAR ProbeCount;
        ULONG TimeoutDelta;
    } KeepAlive;
    struct {
        UCHAR Count;
        ULONG TimeoutDelta;
    } Retransmit;
    union {
        struct {
            PNET_BUFFER_LIST SendDataHead;
            PNET_BUFFER_LIST SendDataTail;
        };
        ULONG SendBacklogSize;
    };
    union {
        PNET_BUFFER_LIST BufferedData;
        ULONG ReceiveBacklogSize;
    };
    ULONG DWnd;
} TCP_OFFLOAD_STATE_DELEGATED, *PTCP_OFFLOAD_STATE_DELEGATED;

typedef struct _PATH_OFFLOAD_STATE_DELEGATED {
    OFFLOAD_STATE_HEADER Header;
} PATH_OFFLOAD_STATE_DELEGATED, *PPATH_OFFLOAD_STATE_DELEGATED;

typedef struct _NEIGHBOR_OFFLOAD_STATE_DELEGATED {
    OFFLOAD_STATE_HEADER Header;
    ULONG NicReachabilityDelta;
} NEIGHBOR_OFFLOAD_STATE_DELEGATED, *PNEIGHBOR_OFFLOAD_STATE_DELEGATED;

#endif
