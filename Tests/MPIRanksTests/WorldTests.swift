import Foundation
import Testing
@testable import MPIRanks

/// Where a process finds its rank, and the collectives between ranks started by `mpiexec`.
@Suite(.serialized) struct WorldTests {
    @Test func aPlainProcessIsRankZeroOfOne() throws {
        let world = try World(environment: [:])
        #expect((world.rank, world.size, world.localRank, world.launcher) == (0, 1, 0, .single))
        var values: [Float] = [1, 2]
        try world.allreduceSum(&values)
        #expect(values == [1, 2])
        #expect(try world.allgather([3]) == [3])
    }

    @Test func torchrunVariablesGiveTheRankWithoutMPI() throws {
        let world = try World(environment: ["RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"])
        #expect((world.rank, world.size, world.localRank, world.launcher) == (3, 4, 1, .environment))
        #expect(!world.isPrimary)
        // Enough to split data, not to exchange it: collectives say so instead of hanging.
        #expect(throws: DistributedError(.noLauncher, path: "barrier", "needs MPI: rank 3 of 4 comes from RANK/WORLD_SIZE, not mpiexec (start the job with `mpiexec -n 4 ...`)")) {
            try world.barrier()
        }
    }

    @Test func badVariablesAreNamed() {
        for (environment, fragment) in [(["RANK": "2", "WORLD_SIZE": "2"], "must be below WORLD_SIZE=2"),
                                        (["RANK": "-1", "WORLD_SIZE": "2"], "RANK: '-1' is not"),
                                        (["WORLD_SIZE": "2"], "RANK: not set"),
                                        (["RANK": "0", "WORLD_SIZE": "x"], "WORLD_SIZE: 'x'")] {
            #expect {
                try World(environment: environment)
            } throws: { error in
                (error as? DistributedError)?.code == .environment && "\(error)".contains(fragment)
            }
        }
    }

    @Test(arguments: [2, 3]) func collectivesGiveTheSameResultOnEveryRank(ranks: Int) throws {
        let job = try MPIJob.run(ranks: ranks, MPIJob.check, ["collectives"])
        #expect(job.status == 0, "\(job.errors)")
        for rank in 0..<ranks { #expect(job.output.contains("rank \(rank) of \(ranks): collectives ok")) }
    }

    // A job that outlives a failed rank hangs (the others would wait for it forever): the time
    // limit turns that into a failure. It is no speed claim; a loaded machine stays far inside it.
    @Test(.timeLimit(.minutes(3))) func aFailingRankStopsTheWholeJobNamingItself() throws {
        let job = try MPIJob.run(ranks: 3, MPIJob.check, ["fail", "1"])
        #expect(job.status == 3)
        #expect(job.errors.contains("rank 1 of 3 failed: injected failure"))
        #expect(!job.output.contains("passed a barrier"))
    }

    @Test(.timeLimit(.minutes(3))) func aKilledRankEndsTheJobInsteadOfHangingIt() throws {
        let job = try MPIJob.run(ranks: 2, MPIJob.check, ["die", "1"])
        #expect(job.status != 0)
        #expect(job.output.contains("Killed (signal 9)") || job.errors.contains("Killed (signal 9)"))
        #expect(!job.output.contains("passed a barrier"))
    }
}
