/* CRC-32 (IEEE 802.3 / zlib / PNG: polynomial 0xEDB88320 reflected, init
 * and final xor 0xFFFFFFFF). Guards every region of a checkpoint. */
#ifndef RMTL_CORE_CRC32_H
#define RMTL_CORE_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Continues `crc` over n bytes at p and returns the new value; start with
 * 0. Chaining is exact: crc32(crc32(0, a), b) == crc32(0, a || b), so the
 * value matches zlib's crc32(). p may be NULL when n == 0. [thread-safe] */
uint32_t rmtl__crc32(uint32_t crc, const void *p, size_t n);

#endif
