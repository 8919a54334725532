import MPIRanks
import Foundation

/// The job's ranks. Under `mpiexec` with several ranks, rank 0 first lists every rank's pid and
/// host, so that the launcher's report of a killed pid can be read as a rank.
func jobWorld() throws -> World {
    let world = try World.current()
    guard world.launcher == .mpi, world.size > 1 else { return world }
    let host = ProcessInfo.processInfo.hostName
    let entries = try world.allgather(bytes: Array("\(getpid())@\(host)".utf8))
    if world.isPrimary {
        let list = entries.enumerated().map { "rank \($0.offset) = pid \(String(decoding: $0.element, as: UTF8.self))" }
        printError("sluice: \(world.size) MPI ranks: " + list.joined(separator: ", "))
    }
    return world
}
