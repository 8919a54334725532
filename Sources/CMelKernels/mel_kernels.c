#include "CMelKernels.h"

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__linux__)
#define CLONED __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define CLONED
#endif

/// Eight floats: two SSE registers on baseline x86-64, one AVX register in the AVX2 clone.
typedef float v8 __attribute__((vector_size(32)));

// A macro rather than a function: passing a v8 by value has a different ABI in the two clones.
#define LOAD8(v, p) memcpy(&(v), (p), sizeof(v8))

CLONED
void sluice_window_frame(float *restrict frame, const float *restrict x, const float *restrict window,
                         float emphasis, long count) {
    if (emphasis == 0) {
        for (long i = 0; i < count; i++) frame[i] = x[i] * window[i];
    } else {
        for (long i = 0; i < count; i++) frame[i] = (x[i] - emphasis * x[i - 1]) * window[i];
    }
}

// X[k] = E[k] + e^(-i pi k / m) O[k] with E[k] = (Z[k] + conj Z[m-k]) / 2 and
// O[k] = (Z[k] - conj Z[m-k]) / 2i; FFmpeg's own real FFT (libavutil 57) does this in scalar code.
CLONED
void sluice_untangle_power(float *restrict power, const float *restrict z, const float *restrict cosines,
                           const float *restrict sines, long m) {
    power[0] = (z[0] + z[1]) * (z[0] + z[1]);
    power[m] = (z[0] - z[1]) * (z[0] - z[1]);
    for (long k = 1; k < m; k++) {
        float a = z[2 * k], b = z[2 * k + 1];
        float c = z[2 * (m - k)], d = z[2 * (m - k) + 1];
        float sumRe = a + c, difIm = b - d, sumIm = b + d, difRe = c - a;
        float re = sumRe + cosines[k] * sumIm + sines[k] * difRe;
        float im = difIm + cosines[k] * difRe - sines[k] * sumIm;
        power[k] = 0.25f * (re * re + im * im);
    }
}

CLONED
void sluice_complex_power(float *restrict power, const float *restrict z, long bins) {
    for (long k = 0; k < bins; k++) power[k] = z[2 * k] * z[2 * k] + z[2 * k + 1] * z[2 * k + 1];
}

CLONED
void sluice_mel_bands(float *restrict row, const float *restrict power, const sluice_mel_group *restrict groups,
                      long bands) {
    for (long g = 0; g * 8 < bands; g++) {
        const float *p = power + groups[g].first, *w = groups[g].weights;
        long count = groups[g].count, j = 0;
        // Four sums, so consecutive multiply-adds do not wait on each other.
        v8 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0}, w0, w1, w2, w3;
        for (; j + 4 <= count; j += 4) {
            LOAD8(w0, w + 8 * j);
            LOAD8(w1, w + 8 * j + 8);
            LOAD8(w2, w + 8 * j + 16);
            LOAD8(w3, w + 8 * j + 24);
            s0 += w0 * p[j];
            s1 += w1 * p[j + 1];
            s2 += w2 * p[j + 2];
            s3 += w3 * p[j + 3];
        }
        for (; j < count; j++) {
            LOAD8(w0, w + 8 * j);
            s0 += w0 * p[j];
        }
        v8 sum = (s0 + s1) + (s2 + s3);
        long n = bands - 8 * g < 8 ? bands - 8 * g : 8;
        if (n == 8) {
            memcpy(row + 8 * g, &sum, sizeof sum);
        } else {
            for (long i = 0; i < n; i++) row[8 * g + i] = sum[i];
        }
    }
}

CLONED
float sluice_largest(const float *restrict values, long count) {
    v8 top = {0};
    long i = 0;
    for (; i + 8 <= count; i += 8) {
        v8 v;
        LOAD8(v, values + i);
        top = __builtin_elementwise_max(v, top);
    }
    float result = 0;
    for (int j = 0; j < 8; j++) result = top[j] > result ? top[j] : result;
    for (; i < count; i++) result = values[i] > result ? values[i] : result;
    return result;
}

// ln of the mantissa m in [sqrt(1/2), sqrt(2)) as 2 atanh((m-1)/(m+1)) to the s^7 term: no calls
// or branches (unlike libm's log10f), so loops over it vectorise.
static inline float decibels(float x) {
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    bits -= 0x3F3504F3u;  // the bits of sqrt(1/2)
    float exponent = (float)((int32_t)bits >> 23);
    uint32_t mantissaBits = (bits & 0x007FFFFFu) + 0x3F3504F3u;
    float m;
    memcpy(&m, &mantissaBits, sizeof m);
    float s = (m - 1) / (m + 1), s2 = s * s;
    float ln = 2 * s * (1 + s2 * (1.0f / 3 + s2 * (1.0f / 5 + s2 * (1.0f / 7))));
    return 10 * (exponent * 0.30102999566f + ln * 0.43429448190f);
}

float sluice_decibels(float x) { return decibels(x); }

CLONED
void sluice_decibels_of(float *restrict values, long count, float amin) {
    for (long i = 0; i < count; i++) values[i] = decibels(values[i] > amin ? values[i] : amin);
}

CLONED
void sluice_relative_decibels(float *restrict values, long count, float reference, float lowest) {
    for (long i = 0; i < count; i++) {
        float db = values[i] - reference;
        values[i] = db < lowest ? lowest : db;
    }
}
