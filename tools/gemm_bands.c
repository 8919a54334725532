// Why Tensor's gemm cuts a product into tiles fixed by its shape, never by the thread count.
//
//   gcc -O2 tools/gemm_bands.c -o /tmp/gemm_bands -I/usr/include/x86_64-linux-gnu/openblas-pthread -lopenblas
//   OPENBLAS_CORETYPE=Haswell /tmp/gemm_bands bits    # elements that change when C is computed in bands
//   OPENBLAS_CORETYPE=Haswell /tmp/gemm_bands time    # one-thread cost of T bands against one call
//
// `bits`: for each product shape and band width, how many elements of C (row-major, C = A B)
// differ in their bits between one sgemm call and one call per band of rows or of columns. Zero
// everywhere would let bands follow the thread count; on Haswell, Zen, SkylakeX and Cooperlake
// kernels it is not.
// `time`: the best of 5 runs of T = 1, 2, 4, 8, 16 bands along the larger extent, on one thread,
// as a ratio to one call.
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern char *openblas_get_corename(void);

static void fill(float *p, long n, unsigned s) {
    for (long i = 0; i < n; i++) { s = s * 1664525u + 1013904223u; p[i] = (float)(s >> 8) / 16777216.0f * 2 - 1; }
}

// C in bands of `band` rows (byRows) or columns; band <= 0 means one call.
static void product(int m, int n, int k, const float *a, const float *b, float *c, int band, int byRows) {
    int extent = byRows ? m : n;
    if (band <= 0) band = extent;
    for (int f = 0; f < extent; f += band) {
        int s = extent - f < band ? extent - f : band;
        if (byRows) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s, n, k, 1, a + (long)f * k, k, b, n, 0, c + (long)f * n, n);
        else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, s, k, 1, a, k, b + f, n, 0, c + f, n);
    }
}

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

int main(int argc, char **argv) {
    int timing = argc > 1 && !strcmp(argv[1], "time");
    openblas_set_num_threads(1);
    printf("OpenBLAS kernels: %s\n", openblas_get_corename());
    static const int bitsShapes[][3] = {{33, 33, 1000}, {99, 40, 1000}, {700, 65, 300}, {256, 256, 256},
                                        {1024, 512, 128}, {1024, 128, 512}, {64, 64, 64}, {48, 1000, 33}};
    static const int timeShapes[][3] = {{1024, 128, 128}, {1024, 512, 128}, {1024, 128, 512}, {1024, 2048, 256},
                                        {160, 30522, 128}, {64, 50176, 147}, {300, 700, 700}};
    int count = timing ? 7 : 8;
    for (int s = 0; s < count; s++) {
        const int *shape = timing ? timeShapes[s] : bitsShapes[s];
        int m = shape[0], n = shape[1], k = shape[2];
        float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * k * n);
        float *whole = malloc(sizeof(float) * m * n), *banded = malloc(sizeof(float) * m * n);
        fill(a, (long)m * k, 1); fill(b, (long)k * n, 2);
        if (timing) {
            static const int tiles[] = {1, 2, 4, 8, 16};
            int byRows = m >= n, extent = byRows ? m : n;
            int reps = (int)(2e9 / (2.0 * m * n * k)) + 1;
            double base = 0;
            printf("%5d x %5d x %4d:", m, n, k);
            for (int t = 0; t < 5; t++) {
                int band = ((extent + tiles[t] - 1) / tiles[t] + 15) / 16 * 16;
                double best = 1e9;
                for (int run = 0; run < 5; run++) {
                    double start = now();
                    for (int r = 0; r < reps; r++) product(m, n, k, a, b, banded, band, byRows);
                    double seconds = (now() - start) / reps;
                    if (seconds < best) best = seconds;
                }
                if (t == 0) base = best;
                printf("  T%-2d %.3f", tiles[t], best / base);
            }
            printf("   (one call %.2f ms)\n", base * 1e3);
        } else {
            static const int bands[] = {1, 4, 8, 16, 17, 32, 48, 64, 96, 128, 256};
            product(m, n, k, a, b, whole, 0, 1);
            for (int byRows = 1; byRows >= 0; byRows--) {
                printf("%4d x %4d x %4d %s:", m, n, k, byRows ? "rows" : "cols");
                for (int i = 0; i < 11; i++) {
                    product(m, n, k, a, b, banded, bands[i], byRows);
                    int differ = 0;
                    for (long e = 0; e < (long)m * n; e++) differ += memcmp(&whole[e], &banded[e], sizeof(float)) != 0;
                    printf(" %d:%d", bands[i], differ);
                }
                printf("\n");
            }
        }
        free(a); free(b); free(whole); free(banded);
    }
    return 0;
}
