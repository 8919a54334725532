// MPI for Swift: mpi.h, plus static inline re-exports of the handles and constants that are
// macros (MPICH: integer constants; OpenMPI: addresses of globals), which the Swift importer drops.
// Linking comes from pkg-config (`mpich` by default, `ompi-c` with SLUICE_MPI=openmpi).
#pragma once
#include <mpi.h>

static inline MPI_Comm sluice_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype sluice_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype sluice_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype sluice_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Op sluice_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op sluice_mpi_max(void) { return MPI_MAX; }
static inline void *sluice_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Errhandler sluice_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int sluice_mpi_success(void) { return MPI_SUCCESS; }
static inline int sluice_mpi_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
static inline int sluice_mpi_thread_multiple(void) { return MPI_THREAD_MULTIPLE; }
static inline int sluice_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
