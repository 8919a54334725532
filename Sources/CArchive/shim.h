// libarchive for Swift: reads and writes the tar shards of WebDataset datasets.
#pragma once
#include <archive.h>
#include <archive_entry.h>

// The file-type macros are casts, which Swift does not import.
static const unsigned int sluice_ae_ifreg = AE_IFREG;
static const unsigned int sluice_ae_ifdir = AE_IFDIR;
static const unsigned int sluice_ae_iflnk = AE_IFLNK;
