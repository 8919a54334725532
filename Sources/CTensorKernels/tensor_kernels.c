#include "CTensorKernels.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__linux__)
#define CLONED __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define CLONED
#endif

/// Eight floats: two SSE registers on baseline x86-64, one AVX register in the AVX2 clone.
typedef float v8 __attribute__((vector_size(32)));

// Macros rather than functions: passing a v8 by value has a different ABI in the two clones.
#define LOAD8(v, p) memcpy(&(v), (p), sizeof(v8))
#define SUM8(v) ((((v)[0] + (v)[1]) + ((v)[2] + (v)[3])) + (((v)[4] + (v)[5]) + ((v)[6] + (v)[7])))

static const float inverse_sqrt2 = 0.70710678118654752f;
static const float inverse_sqrt2pi = 0.39894228040143268f;

/// exp(x), Cephes' expf: x = n ln 2 + r, a degree-5 polynomial in r, then 2^n through the
/// exponent bits. Inlined into each loop so the loop vectorises. NaN stays NaN, below -87.3 the
/// result is 0, and above 88.4 it stays at exp(88.4) (every caller passes x <= 0).
static inline __attribute__((always_inline)) float fast_exp(float x) {
    const float hi = 88.3762626647949f, lo = -87.3365478515625f;
    float clamped = x > hi ? hi : x;
    int underflow = clamped < lo;
    clamped = underflow ? lo : clamped;
    float n = __builtin_floorf(clamped * 1.44269504088896341f + 0.5f);
    float r = clamped - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float y = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return underflow ? 0.0f : y * scale;
}

/// Phi(x) and phi(x) of the standard normal at once: erf by Abramowitz & Stegun 7.1.26 shares
/// its exp(-x^2/2) with the density.
static inline __attribute__((always_inline)) void normal_cdf_pdf(float x, float *cdf, float *pdf) {
    float z = fabsf(x) * inverse_sqrt2;
    float t = 1.0f / (1.0f + 0.3275911f * z);
    float gaussian = fast_exp(-0.5f * x * x);
    float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    float erf_abs = 1.0f - poly * gaussian;
    float erf = x < 0 ? -erf_abs : erf_abs;
    *cdf = 0.5f * (1.0f + erf);
    *pdf = inverse_sqrt2pi * gaussian;
}

CLONED
void sluice_gelu(float *restrict y, const float *restrict x, long count) {
    for (long i = 0; i < count; i++) {
        float cdf, pdf;
        normal_cdf_pdf(x[i], &cdf, &pdf);
        y[i] = x[i] * cdf;
    }
}

CLONED
void sluice_gelu_backward(float *restrict dx, const float *restrict g, const float *restrict x, long count) {
    for (long i = 0; i < count; i++) {
        float cdf, pdf;
        normal_cdf_pdf(x[i], &cdf, &pdf);
        dx[i] = g[i] * (cdf + x[i] * pdf);
    }
}

/// The largest element of a row (-infinity for an empty row).
static inline __attribute__((always_inline)) float row_max(const float *row, long width) {
    float top = -INFINITY;
    long i = 0;
    if (width >= 8) {
        v8 best;
        LOAD8(best, row);
        for (i = 8; i + 8 <= width; i += 8) {
            v8 v;
            LOAD8(v, row + i);
            best = __builtin_elementwise_max(v, best);
        }
        for (int lane = 0; lane < 8; lane++) top = best[lane] > top ? best[lane] : top;
    }
    for (; i < width; i++) top = row[i] > top ? row[i] : top;
    return top;
}

/// The sum of a row in eight running sums.
static inline __attribute__((always_inline)) float row_sum(const float *row, long width) {
    v8 sums = {0};
    long i = 0;
    for (; i + 8 <= width; i += 8) {
        v8 v;
        LOAD8(v, row + i);
        sums += v;
    }
    float total = SUM8(sums);
    for (; i < width; i++) total += row[i];
    return total;
}

/// out[i] = exp(x[i] - shift), returning their sum; with `out` NULL only the sum, through a
/// small buffer on the stack.
static inline __attribute__((always_inline)) float exp_shifted_sum(float *out, const float *x, long width, float shift) {
    float buffer[256], total = 0;
    for (long start = 0; start < width; start += 256) {
        long n = width - start < 256 ? width - start : 256;
        float *o = out ? out + start : buffer;
        const float *s = x + start;
        for (long i = 0; i < n; i++) o[i] = fast_exp(s[i] - shift);
        total += row_sum(o, n);
    }
    return total;
}

CLONED
void sluice_softmax_rows(float *restrict y, const float *restrict x, long rows, long width) {
    for (long r = 0; r < rows; r++) {
        const float *s = x + r * width;
        float *o = y + r * width;
        float top = row_max(s, width);
        if (top == -INFINITY) {
            memset(o, 0, (size_t)width * sizeof(float));
            continue;
        }
        float scale = 1.0f / exp_shifted_sum(o, s, width, top);
        for (long i = 0; i < width; i++) o[i] *= scale;
    }
}

CLONED
void sluice_softmax_backward_rows(float *restrict dx, const float *restrict g, const float *restrict y,
                                  long rows, long width) {
    for (long r = 0; r < rows; r++) {
        const float *gr = g + r * width, *yr = y + r * width;
        float *o = dx + r * width;
        v8 sums = {0};
        long i = 0;
        for (; i + 8 <= width; i += 8) {
            v8 a, b;
            LOAD8(a, gr + i);
            LOAD8(b, yr + i);
            sums += a * b;
        }
        float dot = SUM8(sums);
        for (; i < width; i++) dot += gr[i] * yr[i];
        for (i = 0; i < width; i++) o[i] = yr[i] * (gr[i] - dot);
    }
}

CLONED
float sluice_log_sum_exp(const float *row, long width) {
    float top = row_max(row, width);
    if (top == -INFINITY) return top;
    return top + logf(exp_shifted_sum(NULL, row, width, top));
}

CLONED
void sluice_exp_scaled(float *restrict out, const float *restrict x, long count, float shift, float scale) {
    for (long i = 0; i < count; i++) out[i] = fast_exp(x[i] - shift) * scale;
}

CLONED
void sluice_layer_norm_rows(float *restrict y, float *restrict xhat, float *restrict rstd, const float *restrict x,
                            const float *restrict gamma, const float *restrict beta, long rows, long width, float eps) {
    for (long r = 0; r < rows; r++) {
        const float *s = x + r * width;
        float *h = xhat + r * width, *o = y + r * width;
        float mean = row_sum(s, width) / (float)width;
        v8 squares = {0};
        long i = 0;
        for (; i + 8 <= width; i += 8) {
            v8 v;
            LOAD8(v, s + i);
            v -= mean;
            squares += v * v;
        }
        float variance = SUM8(squares);
        for (; i < width; i++) variance += (s[i] - mean) * (s[i] - mean);
        float inverse = 1.0f / sqrtf(variance / (float)width + eps);
        rstd[r] = inverse;
        for (i = 0; i < width; i++) {
            h[i] = (s[i] - mean) * inverse;
            o[i] = h[i] * gamma[i] + beta[i];
        }
    }
}

CLONED
void sluice_layer_norm_backward_rows(float *restrict dx, const float *restrict g, const float *restrict xhat,
                                     const float *restrict rstd, const float *restrict gamma, long rows, long width) {
    for (long r = 0; r < rows; r++) {
        const float *gr = g + r * width, *h = xhat + r * width;
        float *o = dx + r * width;
        v8 dys = {0}, dyhs = {0};
        long i = 0;
        for (; i + 8 <= width; i += 8) {
            v8 a, b, c;
            LOAD8(a, gr + i);
            LOAD8(b, gamma + i);
            LOAD8(c, h + i);
            v8 dy = a * b;
            dys += dy;
            dyhs += dy * c;
        }
        float mean_dy = SUM8(dys), mean_dyh = SUM8(dyhs);
        for (; i < width; i++) {
            float dy = gr[i] * gamma[i];
            mean_dy += dy;
            mean_dyh += dy * h[i];
        }
        mean_dy /= (float)width;
        mean_dyh /= (float)width;
        for (i = 0; i < width; i++) o[i] = rstd[r] * (gr[i] * gamma[i] - mean_dy - h[i] * mean_dyh);
    }
}

CLONED
void sluice_layer_norm_parameter_grads(float *restrict dgamma, float *restrict dbeta, const float *restrict g,
                                       const float *restrict xhat, long rows, long width, long stride) {
    for (long r = 0; r < rows; r++) {
        const float *gr = g + r * stride, *h = xhat + r * stride;
        for (long i = 0; i < width; i++) {
            dgamma[i] += gr[i] * h[i];
            dbeta[i] += gr[i];
        }
    }
}

CLONED
void sluice_adam(float *restrict p, const float *restrict g, float *restrict m, float *restrict v, long count,
                 float b1, float b2, float l2, float decay, float step_size, float inverse_correction2, float eps) {
    for (long i = 0; i < count; i++) {
        float gi = g[i] + l2 * p[i];
        float pi = p[i] * decay;
        float mi = b1 * m[i] + (1 - b1) * gi;
        float vi = b2 * v[i] + (1 - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi - step_size * mi / (sqrtf(vi) * inverse_correction2 + eps);
    }
}
