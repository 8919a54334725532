// libsndfile for Swift. SFM_* and SF_FORMAT_* import as Int while sf_open takes Int32:
// the typed constants below save a cast at every call site.
#pragma once
#include <sndfile.h>

static const int sluice_sfm_read = SFM_READ;
static const int sluice_sfm_write = SFM_WRITE;
static const int sluice_sf_format_typemask = SF_FORMAT_TYPEMASK;
static const int sluice_sf_format_submask = SF_FORMAT_SUBMASK;
