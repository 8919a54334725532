#!/usr/bin/env bash
# Builds the MPIRanks layer against OpenMPI (SLUICE_MPI=openmpi, pkg-config ompi-c) in its own
# scratch path and runs the 2- and 3-rank checks of Tests/MPIRanksCheck under OpenMPI's mpiexec:
# every collective checked on every rank, a failing rank stopping the job naming itself, a killed
# rank ending the job. Exits 1 if one fails.
#
# OpenMPI is not installed system-wide: Debian's libopenmpi-dev takes over the `mpi` and `mpirun`
# alternatives (mpi.h, /usr/bin/mpiexec) from MPICH, which would switch every other build and test
# on the machine to OpenMPI. Its packages are fetched with `apt-get download` and unpacked with
# `dpkg -x` under the scratch path instead, and found through PKG_CONFIG_PATH, LD_LIBRARY_PATH and
# OPAL_PREFIX (OpenMPI's relocation variable).
#   usage: tools/openmpi-check.sh      (SCRATCH=.build-openmpi)
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=${SCRATCH:-.build-openmpi}
prefix="$(pwd)/$scratch/openmpi-root"
packages=(libopenmpi3 openmpi-bin openmpi-common libopenmpi-dev libpmix2 libevent-2.1-7 libevent-core-2.1-7
          libevent-extra-2.1-7 libevent-openssl-2.1-7 libevent-pthreads-2.1-7 libfabric1 libpsm-infinipath1
          libpsm2-2 libmunge2 libhwloc15 libucx0 libibverbs1 librdmacm1)
if [ ! -x "$prefix/usr/bin/mpiexec.openmpi" ]; then
  mkdir -p "$scratch/openmpi-debs" "$prefix"
  (cd "$scratch/openmpi-debs" && apt-get download "${packages[@]}" >&2)
  for deb in "$scratch"/openmpi-debs/*.deb; do dpkg -x "$deb" "$prefix"; done
fi
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
mkdir -p "$scratch/pkgconfig"
sed "s|^prefix=/usr|prefix=$prefix/usr|" "$prefix/usr/lib/$arch/pkgconfig/ompi-c.pc" > "$scratch/pkgconfig/ompi-c.pc"
export PKG_CONFIG_PATH="$(pwd)/$scratch/pkgconfig"
export LD_LIBRARY_PATH="$prefix/usr/lib/$arch/openmpi/lib:$prefix/usr/lib/$arch${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export OPAL_PREFIX="$prefix/usr" OMPI_MCA_plm=isolated OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1
SLUICE_MPI=openmpi swift build --scratch-path "$scratch" --product mpi-ranks-check >&2
check="$scratch/debug/mpi-ranks-check"
mpiexec=("$prefix/usr/bin/mpiexec.openmpi" --oversubscribe)
[ "$(id -u)" = 0 ] && mpiexec+=(--allow-run-as-root)
status=0
result() { if [ "$2" = yes ]; then echo "ok   $1"; else echo "FAIL $1"; status=1; fi; }

ldd "$check" | grep -q "$prefix.*libmpi.so" && linked=yes || linked=no
result "mpi-ranks-check is linked against OpenMPI's libmpi ($prefix)" $linked
for n in 2 3; do
  out=$("${mpiexec[@]}" -n $n "$check" collectives 2>&1) && ok=yes || ok=no
  for r in $(seq 0 $((n - 1))); do grep -q "rank $r of $n: collectives ok" <<<"$out" || ok=no; done
  result "$n ranks: every collective checked on every rank" $ok
done
out=$(timeout 30 "${mpiexec[@]}" -n 3 "$check" fail 1 2>&1) && ok=no || ok=yes
grep -q "rank 1 of 3 failed: injected failure" <<<"$out" || ok=no
grep -q "passed a barrier" <<<"$out" && ok=no
result "3 ranks: a failing rank stops the job naming itself" $ok
start=$(date +%s)
out=$(timeout 30 "${mpiexec[@]}" -n 2 "$check" die 1 2>&1) && ok=no || ok=yes
grep -q "passed a barrier" <<<"$out" && ok=no
[ $(( $(date +%s) - start )) -lt 20 ] || ok=no
result "2 ranks: a killed rank ends the job" $ok
exit $status
