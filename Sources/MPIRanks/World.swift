import CMPI
import Foundation

/// This process's place among the job's processes, and the collectives between them.
///
/// Started by `mpiexec` (MPICH's PMI_RANK or OpenMPI's OMPI_COMM_WORLD_RANK are set), the world is
/// MPI's: rank and size come from MPI_COMM_WORLD and every collective is an MPI call. Otherwise
/// RANK / WORLD_SIZE / LOCAL_RANK (the torchrun, Ray and MosaicML convention) give the rank, enough
/// for a data path that only needs its own part; collectives there work for a world of one and
/// throw `noLauncher` for more. A process with neither is rank 0 of 1.
///
/// Collectives must be called by every rank in the same order, as MPI requires; calls from several
/// threads of one rank are serialised here.
public final class World: @unchecked Sendable {
    /// How the ranks were started.
    public enum Launcher: String, Sendable {
        /// `mpiexec`: collectives are MPI calls.
        case mpi
        /// RANK / WORLD_SIZE without MPI: the data split works, collectives only for a world of one.
        case environment
        /// One plain process.
        case single
    }

    public let rank: Int
    public let size: Int
    /// Rank among the processes on this machine (for pinning threads or devices).
    public let localRank: Int
    public let launcher: Launcher
    /// Rank 0: the one that writes checkpoints, logs, merged indices and progress.
    public var isPrimary: Bool { rank == 0 }

    private let lock = NSLock()

    /// The process's world, set up on first use (MPI_Init_thread under an MPI launcher, finalised
    /// at exit).
    public static func current() throws(DistributedError) -> World {
        try cache.withLock { cached throws(DistributedError) in
            if let cached { return cached }
            let world = try World(environment: ProcessInfo.processInfo.environment)
            cached = world
            return world
        }
    }

    private static let cache = Locked<World?>(nil)

    /// A world read from `environment`: MPI when an MPI launcher's variables are present.
    init(environment: [String: String]) throws(DistributedError) {
        if ["PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_RANK", "PMIX_RANK"].contains(where: { environment[$0] != nil }) {
            var provided: Int32 = 0
            try check(MPI_Init_thread(nil, nil, sluice_mpi_thread_multiple(), &provided), "MPI_Init_thread")
            guard provided >= sluice_mpi_thread_serialized() else {
                throw DistributedError(.mpi, path: "MPI_Init_thread", "this MPI gives thread level \(provided); Sluice needs MPI_THREAD_SERIALIZED or more")
            }
            atexit { _ = MPI_Finalize() }
            MPI_Comm_set_errhandler(sluice_mpi_comm_world(), sluice_mpi_errors_return())
            var rank: Int32 = 0, size: Int32 = 0
            try check(MPI_Comm_rank(sluice_mpi_comm_world(), &rank), "MPI_Comm_rank")
            try check(MPI_Comm_size(sluice_mpi_comm_world(), &size), "MPI_Comm_size")
            let local = ["MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK", "LOCAL_RANK"].lazy.compactMap { environment[$0].flatMap { Int($0) } }.first
            (self.rank, self.size, localRank, launcher) = (Int(rank), Int(size), local ?? Int(rank), .mpi)
            return
        }
        let variables = ["RANK", "WORLD_SIZE", "LOCAL_RANK"].map { name in (name, environment[name]) }
        guard variables.contains(where: { $0.1 != nil }) else {
            (rank, size, localRank, launcher) = (0, 1, 0, .single)
            return
        }
        var numbers: [Int] = []
        for (name, text) in variables {
            guard let text else {
                guard name == "LOCAL_RANK" else {
                    throw DistributedError(.environment, path: name, "not set, but \(variables.filter { $0.1 != nil }.map { "\($0.0)=\($0.1!)" }.joined(separator: " ")) is: set RANK and WORLD_SIZE together")
                }
                numbers.append(numbers[0])
                continue
            }
            guard let value = Int(text), value >= 0 else {
                throw DistributedError(.environment, path: name, "'\(text)' is not a non-negative integer")
            }
            numbers.append(value)
        }
        guard numbers[1] >= 1, numbers[0] < numbers[1], numbers[2] < numbers[1] else {
            throw DistributedError(.environment, path: "RANK", "\(numbers[0]) and LOCAL_RANK=\(numbers[2]) must be below WORLD_SIZE=\(numbers[1]) (at least 1)")
        }
        (rank, size, localRank, launcher) = (numbers[0], numbers[1], numbers[2], .environment)
    }

    // MARK: Collectives

    /// Waits until every rank has arrived.
    public func barrier() throws(DistributedError) {
        try collective("barrier") { MPI_Barrier(sluice_mpi_comm_world()) }
    }

    /// Replaces `buffer` by its element-wise sum over all ranks (MPI_IN_PLACE, float32).
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws(DistributedError) {
        guard let base = buffer.baseAddress else { return }
        for start in stride(from: 0, to: buffer.count, by: Self.chunk) {
            let count = Int32(min(Self.chunk, buffer.count - start))
            try collective("MPI_Allreduce") {
                MPI_Allreduce(sluice_mpi_in_place(), base + start, count, sluice_mpi_float(), sluice_mpi_sum(), sluice_mpi_comm_world())
            }
        }
    }

    /// `values` summed element-wise over all ranks.
    public func allreduceSum(_ values: inout [Float]) throws(DistributedError) {
        try values.withUnsafeMutableBufferPointer { buffer throws(DistributedError) in try allreduceSum(buffer) }
    }

    /// `values` maximised element-wise over all ranks (failure flags, counts).
    public func allreduceMax(_ values: inout [Int64]) throws(DistributedError) {
        let count = Int32(values.count)
        try values.withUnsafeMutableBufferPointer { buffer throws(DistributedError) in
            try collective("MPI_Allreduce") {
                MPI_Allreduce(sluice_mpi_in_place(), buffer.baseAddress, count, sluice_mpi_int64(), sluice_mpi_max(), sluice_mpi_comm_world())
            }
        }
    }

    /// Every rank's `values` (each rank gives the same count), concatenated in rank order.
    public func allgather(_ values: [Float]) throws(DistributedError) -> [Float] {
        guard launcher == .mpi else { return try single(values, "allgather") }
        try checkSameCount(values.count, "allgather")
        var result = [Float](repeating: 0, count: values.count * size)
        try values.withUnsafeBufferPointer { send throws(DistributedError) in
            try result.withUnsafeMutableBufferPointer { receive throws(DistributedError) in
                try collective("MPI_Allgather") {
                    MPI_Allgather(send.baseAddress, Int32(send.count), sluice_mpi_float(),
                                  receive.baseAddress, Int32(send.count), sluice_mpi_float(), sluice_mpi_comm_world())
                }
            }
        }
        return result
    }

    /// Every rank's bytes (any length each), in rank order: how ranks share their errors and manifests.
    public func allgather(bytes: [UInt8]) throws(DistributedError) -> [[UInt8]] {
        guard launcher == .mpi else { return try single([bytes], "allgather") }
        var counts = [Int64](repeating: 0, count: size)
        counts[rank] = Int64(bytes.count)
        try allreduceMax(&counts)
        guard counts.allSatisfy({ $0 <= Int64(Int32.max) }), counts.reduce(0, +) <= Int64(Int32.max) else {
            throw DistributedError(.mismatch, path: "allgather", "\(counts.reduce(0, +)) bytes exceed MPI's 2 GiB count")
        }
        let sizes = counts.map { Int32($0) }
        var offsets: [Int32] = [0]
        for count in sizes.dropLast() { offsets.append(offsets.last! + count) }
        var joined = [UInt8](repeating: 0, count: Int(sizes.reduce(0, +)))
        try bytes.withUnsafeBufferPointer { send throws(DistributedError) in
            try joined.withUnsafeMutableBufferPointer { receive throws(DistributedError) in
                try collective("MPI_Allgatherv") {
                    MPI_Allgatherv(send.baseAddress, Int32(send.count), sluice_mpi_byte(), receive.baseAddress, sizes, offsets,
                                   sluice_mpi_byte(), sluice_mpi_comm_world())
                }
            }
        }
        return zip(offsets, sizes).map { Array(joined[Int($0)..<Int($0 + $1)]) }
    }

    /// Overwrites `values` on every rank with `root`'s (every rank passes the same count).
    public func broadcast(_ values: inout [Float], from root: Int = 0) throws(DistributedError) {
        guard root >= 0, root < size else { throw DistributedError(.mismatch, path: "broadcast", "from rank \(root) of a world of \(size)") }
        try checkSameCount(values.count, "broadcast")
        try values.withUnsafeMutableBufferPointer { buffer throws(DistributedError) in
            try collective("MPI_Bcast") {
                MPI_Bcast(buffer.baseAddress, Int32(buffer.count), sluice_mpi_float(), Int32(root), sluice_mpi_comm_world())
            }
        }
    }

    /// Ends every rank of the job now, with `code` as the exit status: what a rank does when it
    /// fails and the others may be waiting in a collective it will never reach.
    public func abort(code: Int32 = 1) -> Never {
        if launcher == .mpi {
            // MPI_Abort ends the launcher's forwarding at once: give it a moment to pass on the
            // message this rank just printed about why.
            usleep(200_000)
            MPI_Abort(sluice_mpi_comm_world(), code)
        }
        exit(code)
    }

    /// Runs `body`; when it throws on a rank of a multi-rank MPI job, prints `rank R of N failed:
    /// ERROR` and aborts the whole job (the other ranks may be waiting in a collective this one
    /// will never reach). Elsewhere the error is rethrown as it is.
    public func abortingOnError<R>(_ body: () throws -> R) rethrows -> R {
        do {
            return try body()
        } catch {
            guard launcher == .mpi, size > 1 else { throw error }
            FileHandle.standardError.write(Data("rank \(rank) of \(size) failed: \(error)\n".utf8))
            abort(code: 1)
        }
    }

    // MARK: Plumbing

    /// Elements per MPI call: counts are 32-bit.
    static let chunk = 1 << 30

    /// Runs one MPI collective under the lock; for a world of one without MPI, nothing is exchanged.
    private func collective(_ name: String, _ call: () -> Int32) throws(DistributedError) {
        switch launcher {
        case .mpi:
            lock.lock()
            defer { lock.unlock() }
            try check(call(), name)
        case .environment, .single:
            guard size == 1 else { throw noLauncher(name) }
        }
    }

    private func single<T>(_ value: T, _ name: String) throws(DistributedError) -> T {
        guard size == 1 else { throw noLauncher(name) }
        return value
    }

    private func noLauncher(_ name: String) -> DistributedError {
        DistributedError(.noLauncher, path: name, "needs MPI: rank \(rank) of \(size) comes from RANK/WORLD_SIZE, not mpiexec (start the job with `mpiexec -n \(size) ...`)")
    }

    /// Fails on every rank alike when the ranks disagree on a collective's element count (MPI
    /// itself would read past a buffer).
    private func checkSameCount(_ count: Int, _ name: String) throws(DistributedError) {
        guard launcher == .mpi, size > 1 else { return }
        var range: [Int64] = [Int64(count), -Int64(count)]
        try allreduceMax(&range)
        guard range[0] == -range[1] else {
            throw DistributedError(.mismatch, path: name, "ranks passed between \(-range[1]) and \(range[0]) elements; every rank must pass the same count")
        }
        guard count <= Int(Int32.max) / size else { throw DistributedError(.mismatch, path: name, "\(count) elements x \(size) ranks exceed MPI's 32-bit count") }
    }
}

/// Turns an MPI return code into an error holding MPI's text.
private func check(_ code: Int32, _ call: String) throws(DistributedError) {
    guard code != sluice_mpi_success() else { return }
    var text = [CChar](repeating: 0, count: Int(sluice_mpi_max_error_string()) + 1)
    var length: Int32 = 0
    MPI_Error_string(code, &text, &length)
    throw DistributedError(.mpi, path: call, "failed: \(String(cString: text))")
}

/// A value behind a lock (the process's one world).
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func withLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
