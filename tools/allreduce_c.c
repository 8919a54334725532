/* The reference for Benchmarks/mpi-bench: the same in-place float32 MPI_Allreduce loop, in C.
 * mpicc -O2 tools/allreduce_c.c -o /tmp/allreduce_c && mpiexec -n 2 /tmp/allreduce_c 1024 1048576 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    for (int a = 1; a < argc; a++) {
        long elements = atol(argv[a]);
        float *buffer = malloc(sizeof(float) * (elements > 0 ? elements : 1));
        for (long i = 0; i < elements; i++) buffer[i] = 1;
        long iterations = (1L << 26) / (elements > 0 ? elements : 1);
        if (iterations < 5) iterations = 5;
        if (iterations > 2000) iterations = 2000;
        for (int i = 0; i < 3; i++) MPI_Allreduce(MPI_IN_PLACE, buffer, (int)elements, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        MPI_Barrier(MPI_COMM_WORLD);
        double start = MPI_Wtime();
        for (long i = 0; i < iterations; i++) MPI_Allreduce(MPI_IN_PLACE, buffer, (int)elements, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        MPI_Barrier(MPI_COMM_WORLD);
        double seconds = (MPI_Wtime() - start) / iterations;
        double n = size, bus = 2 * (n - 1) / n * elements * 4.0 / seconds / 1e9;
        if (rank == 0) printf("c %ld %.3e %.3f\n", elements, seconds, bus);
        free(buffer);
    }
    MPI_Finalize();
    return 0;
}
