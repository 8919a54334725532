// OpenBLAS for Swift: CBLAS, OpenBLAS's own thread controls (openblas_set_num_threads), so one
// place can decide how many cores the math gets, and the LAPACK routines the engine calls.
#pragma once
#include <stddef.h>
#include <cblas.h>

// LAPACK's single-precision SVD, exported by libopenblas as the Fortran symbol (Debian's
// libopenblas has no LAPACKE). Column-major; the trailing lengths are gfortran's hidden
// CHARACTER-argument lengths (1 for each job flag).
void sgesvd_(const char *jobu, const char *jobvt, const int *m, const int *n, float *a, const int *lda,
             float *s, float *u, const int *ldu, float *vt, const int *ldvt, float *work,
             const int *lwork, int *info, size_t jobu_len, size_t jobvt_len);
