// The BERT-small step's GEMM shapes through one CBLAS library on one thread, best GFLOP/s of
// repeated runs: how close a BLAS gets to its square-matrix rate on the shapes a step has.
//   gcc -O2 tools/sgemm_shapes.c -I/usr/include/x86_64-linux-gnu/openblas-pthread -lopenblas -o /tmp/sg
//   OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=SkylakeX /tmp/sg
// BLIS (apt-get install libblis-dev):
//   gcc -O2 tools/sgemm_shapes.c -I/usr/include/blis -L/usr/lib/x86_64-linux-gnu/blis-openmp -lblis \
//     -Wl,-rpath,/usr/lib/x86_64-linux-gnu/blis-openmp -o /tmp/sg-blis
//   BLIS_NUM_THREADS=1 OMP_NUM_THREADS=1 /tmp/sg-blis
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(void) {
    // m x n x k of C = A B^T (a Linear layer's forward): square, the projections, the FFN, one
    // attention head's scores and mix, the MLM head.
    const int shapes[][3] = {{1024, 1024, 1024}, {4096, 256, 256}, {4096, 1024, 256}, {4096, 256, 1024},
                             {128, 128, 64}, {128, 64, 128}, {4096, 8192, 256}};
    for (int s = 0; s < 7; s++) {
        int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        float *a = malloc(4L * m * k), *b = malloc(4L * k * n), *c = malloc(4L * m * n);
        for (long i = 0; i < (long)m * k; i++) a[i] = 1e-3f * (i % 97);
        for (long i = 0; i < (long)k * n; i++) b[i] = 1e-3f * (i % 89);
        double best = 1e9;
        int repeats = (double)m * n * k > 1e8 ? 5 : 200;
        for (int r = 0; r < repeats; r++) {
            double t = now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1, a, k, b, k, 0, c, n);
            t = now() - t;
            if (t < best) best = t;
        }
        printf("%dx%dx%d %.1f GFLOP/s\n", m, n, k, 2.0 * m * n * k / best / 1e9);
        free(a);
        free(b);
        free(c);
    }
    return 0;
}
