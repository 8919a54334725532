// zlib for Swift: gzip-framed shards (`compression: gz[:level]`). deflateInit2/inflateInit2 are
// macros that pass ZLIB_VERSION and the stream size; the inline wrappers make them callable.
#pragma once
#include <zlib.h>

static inline int sluice_deflate_init2(z_streamp strm, int level, int window_bits) {
    return deflateInit2(strm, level, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY);
}
static inline int sluice_inflate_init2(z_streamp strm, int window_bits) {
    return inflateInit2(strm, window_bits);
}
