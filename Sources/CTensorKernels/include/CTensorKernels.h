// The engine's non-GEMM inner loops (GELU, softmax, log-sum-exp, LayerNorm, Adam), in C so that
// each is compiled twice, for AVX2 + FMA and for baseline x86-64, with the loader picking one
// (target_clones): Swift compiles a module for baseline SSE2 only, calls libm's scalar erff and
// expf per element, and keeps float sums in order, so none of these loops used the vector units.
// exp and erf are polynomial (Cephes' expf, Abramowitz & Stegun 7.1.26 for erf, the form PyTorch's
// vectorised CPU kernels use): within 2 ulp and 1.5e-7 absolute of libm.
// Callers own every buffer and split work across threads; nothing here allocates.
#pragma once

/// y[i] = x[i] Phi(x[i]) (GELU, erf form).
void sluice_gelu(float *y, const float *x, long count);

/// dx[i] = g[i] (Phi(x[i]) + x[i] phi(x[i])): GELU's backward.
void sluice_gelu_backward(float *dx, const float *g, const float *x, long count);

/// Softmax of each row of `width`: exp of the row shifted by its largest element, scaled to sum
/// 1; a row that is all -infinity comes out all zeros.
void sluice_softmax_rows(float *y, const float *x, long rows, long width);

/// dx = y (g - <g, y>) per row: softmax's backward from its output.
void sluice_softmax_backward_rows(float *dx, const float *g, const float *y, long rows, long width);

/// log(sum(exp(row))) of one row, stably; -infinity for an all -infinity row.
float sluice_log_sum_exp(const float *row, long width);

/// out[i] = exp(x[i] - shift) * scale.
void sluice_exp_scaled(float *out, const float *x, long count, float shift, float scale);

/// LayerNorm forward of `rows` rows of `width`: xhat = (x - mean) / sqrt(var + eps),
/// y = xhat gamma + beta; rstd[r] = 1 / sqrt(var + eps) (biased variance).
void sluice_layer_norm_rows(float *y, float *xhat, float *rstd, const float *x, const float *gamma,
                            const float *beta, long rows, long width, float eps);

/// LayerNorm backward for `rows` rows: dx = rstd (dy - mean(dy) - xhat mean(dy xhat)) with
/// dy = g gamma.
void sluice_layer_norm_backward_rows(float *dx, const float *g, const float *xhat, const float *rstd,
                                     const float *gamma, long rows, long width);

/// dgamma[i] += sum over rows of g xhat, dbeta[i] += sum over rows of g, for the `width` columns
/// of rows `stride` apart (a band of columns of the whole row).
void sluice_layer_norm_parameter_grads(float *dgamma, float *dbeta, const float *g, const float *xhat,
                                       long rows, long width, long stride);

/// One Adam(W) update of `count` parameters, as torch.optim.Adam/AdamW: g' = g + l2 p;
/// p *= decay; m = b1 m + (1 - b1) g'; v = b2 v + (1 - b2) g'^2;
/// p -= step_size m / (sqrt(v) inverse_correction2 + eps).
void sluice_adam(float *p, const float *g, float *m, float *v, long count, float b1, float b2,
                 float l2, float decay, float step_size, float inverse_correction2, float eps);
