import MPIRanks
import Foundation

/// Run by MPIRanksTests under `mpiexec -n N`: each scenario checks the collectives' results
/// against what they must be for N ranks and exits non-zero, naming the rank, when one differs.
///   distributed-check collectives      every collective, checked on every rank
///   distributed-check fail RANK        RANK aborts while the others wait in a barrier
///   distributed-check die RANK         RANK kills itself (SIGKILL) while the others wait in a barrier

let arguments = CommandLine.arguments.dropFirst()
let world: World
do { world = try World.current() } catch {
    FileHandle.standardError.write(Data("distributed-check: \(error)\n".utf8))
    exit(2)
}

func require(_ condition: Bool, _ what: String) {
    guard condition else {
        FileHandle.standardError.write(Data("rank \(world.rank): \(what)\n".utf8))
        exit(1)
    }
}

do {
    switch arguments.first {
    case "collectives":
        let n = world.size, r = world.rank
        // 1M floats: large enough that MPI pipelines the reduction in pieces.
        var values = (0..<(1 << 20)).map { Float($0 % 1000) * Float(r + 1) }
        try world.allreduceSum(&values)
        let factor = Float(n * (n + 1) / 2)
        require(values.enumerated().allSatisfy { $0.element == Float($0.offset % 1000) * factor }, "allreduce sum differs")
        let gathered = try world.allgather([Float(r), Float(r * 10)])
        require(gathered == (0..<n).flatMap { [Float($0), Float($0 * 10)] }, "allgather gave \(gathered)")
        let texts = try world.allgather(bytes: Array(String(repeating: "x", count: r) .utf8))
        require(texts.map(\.count) == Array(0..<n), "allgather of bytes gave lengths \(texts.map(\.count))")
        var broadcast: [Float] = r == n - 1 ? [7, 8, 9] : [0, 0, 0]
        try world.broadcast(&broadcast, from: n - 1)
        require(broadcast == [7, 8, 9], "broadcast gave \(broadcast)")
        do {
            _ = try world.allgather([Float](repeating: 0, count: r + 1))
            require(n == 1, "allgather of unequal counts did not fail")
        } catch let error as DistributedError {
            require(error.code == .mismatch, "unequal allgather failed with \(error)")
        }
        try world.barrier()
        print("rank \(r) of \(n): collectives ok")
    case "fail", "die":
        let failing = arguments.dropFirst().first.flatMap { Int($0) } ?? 1
        if world.rank == failing {
            // The others block in the barrier whether they reach it before this rank fails or after.
            if arguments.first == "die" { kill(getpid(), SIGKILL) }
            FileHandle.standardError.write(Data("rank \(world.rank) of \(world.size) failed: injected failure\n".utf8))
            world.abort(code: 3)
        }
        try world.barrier()
        print("rank \(world.rank): passed a barrier rank \(failing) never reached")
    default:
        require(false, "usage: distributed-check collectives | fail RANK | die RANK")
    }
} catch {
    FileHandle.standardError.write(Data("rank \(world.rank) of \(world.size) failed: \(error)\n".utf8))
    world.abort(code: 1)
}
