// libzstd for Swift: per-shard zstd compression of MDS shards (`compression: zstd[:level]`).
#pragma once
#include <zstd.h>
