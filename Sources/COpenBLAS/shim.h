// OpenBLAS for Swift: CBLAS and OpenBLAS's own thread controls (openblas_set_num_threads),
// so one place can decide how many cores the math gets.
#pragma once
#include <cblas.h>
