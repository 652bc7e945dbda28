/* What the C compiler makes of ndischimney_delegated.h.
 *
 *   layout_probe                 one line per member: STRUCT MEMBER OFFSET SIZE, then
 *                                STRUCT sizeof SIZE
 *   layout_probe STRUCT FILE     FILE holds one STRUCT as the engine left it in host
 *                                memory: one line per member, STRUCT MEMBER VALUE (hex),
 *                                read through the C struct */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "ndischimney_delegated.h"

#define MEMBERS_TCP(X) \
    X(TCP_OFFLOAD_STATE_DELEGATED, Header.Length) X(TCP_OFFLOAD_STATE_DELEGATED, Header.RecognizedOptions) \
    X(TCP_OFFLOAD_STATE_DELEGATED, State) X(TCP_OFFLOAD_STATE_DELEGATED, Flags) \
    X(TCP_OFFLOAD_STATE_DELEGATED, RcvNxt) X(TCP_OFFLOAD_STATE_DELEGATED, RcvWnd) \
    X(TCP_OFFLOAD_STATE_DELEGATED, SndUna) X(TCP_OFFLOAD_STATE_DELEGATED, SndNxt) \
    X(TCP_OFFLOAD_STATE_DELEGATED, SndMax) X(TCP_OFFLOAD_STATE_DELEGATED, SndWnd) \
    X(TCP_OFFLOAD_STATE_DELEGATED, MaxSndWnd) X(TCP_OFFLOAD_STATE_DELEGATED, SendWL1) \
    X(TCP_OFFLOAD_STATE_DELEGATED, CWnd) X(TCP_OFFLOAD_STATE_DELEGATED, SsThresh) \
    X(TCP_OFFLOAD_STATE_DELEGATED, SRtt) X(TCP_OFFLOAD_STATE_DELEGATED, RttVar) \
    X(TCP_OFFLOAD_STATE_DELEGATED, TsRecent) X(TCP_OFFLOAD_STATE_DELEGATED, TsRecentAge) \
    X(TCP_OFFLOAD_STATE_DELEGATED, TsTime) X(TCP_OFFLOAD_STATE_DELEGATED, TotalRT) \
    X(TCP_OFFLOAD_STATE_DELEGATED, DupAckCount) X(TCP_OFFLOAD_STATE_DELEGATED, SndWndProbeCount) \
    X(TCP_OFFLOAD_STATE_DELEGATED, KeepAlive.ProbeCount) X(TCP_OFFLOAD_STATE_DELEGATED, KeepAlive.TimeoutDelta) \
    X(TCP_OFFLOAD_STATE_DELEGATED, Retransmit.Count) X(TCP_OFFLOAD_STATE_DELEGATED, Retransmit.TimeoutDelta) \
    X(TCP_OFFLOAD_STATE_DELEGATED, SendDataHead) X(TCP_OFFLOAD_STATE_DELEGATED, SendDataTail) \
    X(TCP_OFFLOAD_STATE_DELEGATED, SendBacklogSize) \
    X(TCP_OFFLOAD_STATE_DELEGATED, BufferedData) X(TCP_OFFLOAD_STATE_DELEGATED, ReceiveBacklogSize) \
    X(TCP_OFFLOAD_STATE_DELEGATED, DWnd)
#define MEMBERS_PATH(X) \
    X(PATH_OFFLOAD_STATE_DELEGATED, Header.Length) X(PATH_OFFLOAD_STATE_DELEGATED, Header.RecognizedOptions)
#define MEMBERS_NEIGHBOR(X) \
    X(NEIGHBOR_OFFLOAD_STATE_DELEGATED, Header.Length) X(NEIGHBOR_OFFLOAD_STATE_DELEGATED, Header.RecognizedOptions) \
    X(NEIGHBOR_OFFLOAD_STATE_DELEGATED, NicReachabilityDelta)

#define SIZEOF_MEMBER(T, m) sizeof(((T *)0)->m)
#define PRINT_LAYOUT(T, m) printf("%s %s %zu %zu\n", #T, #m, offsetof(T, m), SIZEOF_MEMBER(T, m));
/* a member's value, read through the struct the way a driver would (no byte arithmetic) */
#define PRINT_VALUE(T, m) \
    if (!strcmp(name, #T)) { \
        unsigned long long v = 0; \
        memcpy(&v, &((T *)buf)->m, SIZEOF_MEMBER(T, m)); \
        printf("%s %s %llx\n", #T, #m, v); \
    }

int main(int argc, char **argv) {
    if (argc == 1) {
        MEMBERS_TCP(PRINT_LAYOUT) MEMBERS_PATH(PRINT_LAYOUT) MEMBERS_NEIGHBOR(PRINT_LAYOUT)
        printf("TCP_OFFLOAD_STATE_DELEGATED sizeof %zu\n", sizeof(TCP_OFFLOAD_STATE_DELEGATED));
        printf("PATH_OFFLOAD_STATE_DELEGATED sizeof %zu\n", sizeof(PATH_OFFLOAD_STATE_DELEGATED));
        printf("NEIGHBOR_OFFLOAD_STATE_DELEGATED sizeof %zu\n", sizeof(NEIGHBOR_OFFLOAD_STATE_DELEGATED));
        printf("OFFLOAD_STATE_HEADER sizeof %zu\n", sizeof(OFFLOAD_STATE_HEADER));
        return 0;
    }
    if (argc != 3)
        return 2;
    const char *name = argv[1];
    static unsigned char buf[sizeof(TCP_OFFLOAD_STATE_DELEGATED)] __attribute__((aligned(8)));
    FILE *f = fopen(argv[2], "rb");
    if (!f)
        return 3;
    size_t got = fread(buf, 1, sizeof buf, f);
    fclose(f);
    (void)got;
    MEMBERS_TCP(PRINT_VALUE) MEMBERS_PATH(PRINT_VALUE) MEMBERS_NEIGHBOR(PRINT_VALUE)
    return 0;
}
