// libxxhash for Swift: the xxh64 / xxh3_64 / xxh128 shard hashes that MDS writes into index.json.
#pragma once
#include <xxhash.h>
