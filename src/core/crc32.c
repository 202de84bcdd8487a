/* Table-driven CRC-32, slicing-by-8: checkpoints carry the whole model, so
 * the checksum runs over every weight on each save and load; eight tables
 * process eight bytes per step instead of one. */
#include "core/crc32.h"

#include <threads.h>

#include "core/bytes.h"

#define RMTL__CRC32_POLY 0xEDB88320u

/* Built once (docs/architecture.md, "Threads": the only global state is call_once tables)
 * rather than spelled out as 2048 literals. t[0] is the classic byte table;
 * t[k][b] is the CRC of byte b followed by k zero bytes. */
static uint32_t rmtl__crc_tab[8][256];
static once_flag rmtl__crc_once = ONCE_FLAG_INIT;

static void rmtl__crc32_build(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ RMTL__CRC32_POLY : c >> 1;
        rmtl__crc_tab[0][i] = c;
    }
    for (int s = 1; s < 8; s++)
        for (int i = 0; i < 256; i++) {
            uint32_t prev = rmtl__crc_tab[s - 1][i];
            rmtl__crc_tab[s][i] = (prev >> 8) ^ rmtl__crc_tab[0][prev & 0xff];
        }
}

uint32_t rmtl__crc32(uint32_t crc, const void *p, size_t n)
{
    call_once(&rmtl__crc_once, rmtl__crc32_build);
    const uint32_t(*t)[256] = (const uint32_t(*)[256])rmtl__crc_tab;
    const unsigned char *b = p;
    crc = ~crc;
    /* Loads are explicit little-endian, so the result does not depend on
     * the host's byte order or on the alignment of p. */
    for (; n >= 8; n -= 8, b += 8) {
        uint32_t lo = crc ^ rmtl__load_u32le(b), hi = rmtl__load_u32le(b + 4);
        crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
              t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^ t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
    }
    for (; n; n--, b++)
        crc = (crc >> 8) ^ t[0][(crc ^ *b) & 0xff];
    return ~crc;
}
