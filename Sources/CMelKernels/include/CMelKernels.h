// The inner loops of the log-mel spectrogram, in C so that each is compiled twice, for AVX2 + FMA
// and for baseline x86-64, with the loader picking one (target_clones): Swift compiles a module
// for one instruction set only, and baseline SSE2 halves the speed of these loops.
// Callers own every buffer; nothing here allocates.
#pragma once

/// Eight neighbouring mel bands of a filter bank, as one dense block over the FFT bins any of them
/// covers: bin first + j weighs weights[8 j + i] into band i of the eight. Triangular bands overlap
/// only their neighbours, so the block is mostly nonzero, and eight bands come out of one SIMD sum.
typedef struct {
    long first;
    long count;
    const float *weights;
} sluice_mel_group;

/// frame[i] = (x[i] - emphasis * x[i-1]) * window[i] for i in 0 ..< count; x[-1] is read only
/// when emphasis is not 0.
void sluice_window_frame(float *frame, const float *x, const float *window, float emphasis, long count);

/// |X[k]|^2 for k in 0...m of a real frame of 2m samples, from Z, the m-point complex FFT of the
/// frame's sample pairs (interleaved re, im), and cos/sin of 2 pi k / 2m for k in 0...m.
void sluice_untangle_power(float *power, const float *z, const float *cosines, const float *sines, long m);

/// power[k] = re^2 + im^2 of the interleaved complex bins z, k in 0 ..< bins.
void sluice_complex_power(float *power, const float *z, long bins);

/// row[b] = the dot product of band b's weights with the power spectrum, b in 0 ..< bands; group g
/// holds bands 8g ..< 8g + 8.
void sluice_mel_bands(float *row, const float *power, const sluice_mel_group *groups, long bands);

/// The largest of values[0 ..< count], or 0 when all are smaller.
float sluice_largest(const float *values, long count);

/// values[i] = 10 log10(max(amin, values[i])) in place.
void sluice_decibels_of(float *values, long count, float amin);

/// values[i] = max(lowest, values[i] - reference) in place.
void sluice_relative_decibels(float *values, long count, float reference, float lowest);

/// 10 log10(x) for positive normal x, to about 1e-8 relative.
float sluice_decibels(float x);
