#!/usr/bin/env bash
# Allreduce bandwidth of Sluice's MPIRanks layer against a plain C MPI_Allreduce loop on the
# same buffer sizes, 2 ranks, release build, alternating runs so both see the same machine load.
#   tools/bench-mpi.sh            (needs: swift build -c release --product mpi-bench; mpicc from libmpich-dev)
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=(256 4096 65536 1048576 4194304)
mpicc -O2 tools/allreduce_c.c -o .build/allreduce_c
for round in 1 2 3; do
  mpiexec -n 2 .build/allreduce_c "${sizes[@]}"
  mpiexec -n 2 .build/release/mpi-bench "${sizes[@]}"
done | awk '
  { key = $2; if (!(key in best_c)) { best_c[key] = 0; best_s[key] = 0; order[++n] = key }
    if ($1 == "c" && $4 > best_c[key]) { best_c[key] = $4; lat_c[key] = $3 }
    if ($1 == "swift" && $4 > best_s[key]) { best_s[key] = $4; lat_s[key] = $3 } }
  END { printf "%10s %12s %12s %10s %10s %7s\n", "floats", "C s/call", "Swift s/call", "C GB/s", "Swift GB/s", "ratio"
        for (i = 1; i <= n; i++) { k = order[i]
          printf "%10d %12.3e %12.3e %10.3f %10.3f %7.3f\n", k, lat_c[k], lat_s[k], best_c[k], best_s[k], best_s[k] / best_c[k] } }'
