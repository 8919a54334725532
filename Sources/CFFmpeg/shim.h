// FFmpeg for Swift: the public headers, plus static inline re-exports of the function-like
// macros and macro constants that the Swift importer drops.
#pragma once
#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libavutil/avutil.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libavutil/channel_layout.h>
#include <libavutil/display.h>
#include <libavutil/tx.h>
#include <libswscale/swscale.h>
#include <libswresample/swresample.h>

/// AVERROR(e): FFmpeg's negated errno.
static inline int sluice_averror(int e) { return AVERROR(e); }
/// AVERROR_EOF: end of stream.
static inline int sluice_averror_eof(void) { return AVERROR_EOF; }
/// AVERROR(EAGAIN): "feed more input" from the send/receive API.
static inline int sluice_averror_eagain(void) { return AVERROR(EAGAIN); }
/// AVERROR_INVALIDDATA: "Invalid data found when processing input".
static inline int sluice_averror_invaliddata(void) { return AVERROR_INVALIDDATA; }
/// AV_NOPTS_VALUE: no timestamp.
static inline int64_t sluice_av_nopts_value(void) { return AV_NOPTS_VALUE; }
/// AV_TIME_BASE: microseconds, FFmpeg's internal time base.
static inline int sluice_av_time_base(void) { return AV_TIME_BASE; }
/// av_err2str(e) into a caller-provided buffer of at least AV_ERROR_MAX_STRING_SIZE bytes.
static inline const char *sluice_av_err2str(int e, char *buf, size_t size) {
    return av_make_error_string(buf, size, e);
}
/// AV_ERROR_MAX_STRING_SIZE, the buffer size av_err2str needs.
static inline int sluice_av_error_max_string_size(void) { return AV_ERROR_MAX_STRING_SIZE; }
