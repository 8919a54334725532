// OpenSSL's libcrypto for Swift: the sha1 / sha256 / md5 shard hashes of MDS index.json.
// Chosen over swift-crypto because it is already a Debian package here and adds no Swift build time.
#pragma once
#include <openssl/evp.h>
