import Models
import Tensor
import Testing
import Text
import Training
import TestSupport

/// Stage 2 on replicas, in one process: two replicas, each with its half of a pair batch and the
/// other's embeddings as gathered values, together take the gradient of one process with the
/// whole batch (what `mpiexec -n 2 sluice retromae train --pairs` relies on; MPIRanksTests
/// runs it on real ranks).
@Suite struct ReplicaTests {
    /// Replica `rank` of two, handing back the other replica's precomputed queries, passages and
    /// positives in the order the loss gathers them.
    final class TwoReplicas: ReplicaGroup {
        let rank: Int
        let other: [[Float]]
        private var call = 0
        init(rank: Int, other: [[Float]]) { (self.rank, self.other) = (rank, other) }
        var count: Int { 2 }
        func allgather(_ values: [Float]) -> [[Float]] {
            defer { call += 1 }
            return rank == 0 ? [values, other[call]] : [other[call], values]
        }
    }

    static let pairs = TinyCorpus.sentences.map { sentence in
        (query: String(sentence.split(separator: " ").last!), positive: sentence, negatives: [String]())
    }

    static func model() -> RetroMAEModel {
        var rng = RandomGenerator(seed: 8)
        return RetroMAEModel(TinyCorpus.config(), rng: &rng)
    }

    static func options() -> RetroMAEOptions {
        var options = RetroMAEOptions()
        options.temperature = 0.05
        return options
    }

    /// The gradient of every parameter after one backward pass of `training`'s loss on `batch`.
    static func gradients(_ training: RetroMAETraining, _ batch: RetroMAEBatch) throws -> (loss: Float, contrastive: Float, [[Float]]) {
        training.zeroGradients()
        var context = ForwardContext(training: true, rng: RandomGenerator(seed: 1))
        let report = try training.loss(on: batch, position: 0, context: &context)
        report.loss.backward()
        return (report.loss.item, report.terms.first { $0.name == "contrastive" }!.value,
                training.parameters.map { $0.grad?.scalars ?? [] })
    }

    @Test func halvesWithGatheredEmbeddingsTakeTheWholeBatchsGradient() throws {
        let tokenizer = TinyCorpus.tokenizer
        let batch = try TinyCorpus.collator().collate(TinyCorpus.blocks, seed: 3)
        let whole = try PairDataset(pairs: Self.pairs, tokenizer: tokenizer, maxLength: 32, batchSize: 4, seed: 2)
        let (loss, contrastive, expected) = try Self.gradients(
            RetroMAETraining(model: Self.model(), pairs: whole, options: Self.options()), batch)

        let halves = try (0..<2).map { try PairDataset(pairs: Self.pairs, tokenizer: tokenizer, maxLength: 32, batchSize: 2, seed: 2, replica: $0, of: 2) }
        #expect(halves[0].batch(0).queries + halves[1].batch(0).queries == whole.batch(0).queries)
        // What each replica contributes to the gather: its [CLS] embeddings and positives.
        let encoder = Self.model().encoder
        let gathered = try halves.map { half -> [[Float]] in
            var context = ForwardContext(training: true, rng: RandomGenerator(seed: 1))
            let pairBatch = half.batch(0)
            let embed = { (sequences: [[Int32]]) throws in
                try encoder.sentenceEmbeddings(sequences, padId: half.padId, pooling: .cls, normalize: true, context: &context).scalars
            }
            return [try embed(pairBatch.queries), try embed(pairBatch.passages), pairBatch.positives.map(Float.init)]
        }
        var mean = expected.map { [Float](repeating: 0, count: $0.count) }
        for rank in 0..<2 {
            let training = RetroMAETraining(model: Self.model(), pairs: halves[rank], options: Self.options(),
                                            replicas: TwoReplicas(rank: rank, other: gathered[1 - rank]))
            let (replicaLoss, replicaContrastive, gradients) = try Self.gradients(training, batch)
            #expect(abs(replicaLoss - loss) < 1e-4 && abs(replicaContrastive - contrastive) < 1e-5)
            for (index, gradient) in gradients.enumerated() {
                for i in gradient.indices { mean[index][i] += gradient[i] / 2 }
            }
        }
        #expect(contrastive > 1)
        var worst: Float = 0
        for (got, want) in zip(mean, expected) {
            for (a, b) in zip(got, want) { worst = max(worst, abs(a - b) / max(1e-3, abs(b))) }
        }
        #expect(worst < 1e-3, "largest relative gradient difference \(worst)")
    }
}
