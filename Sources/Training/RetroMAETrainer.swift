import Foundation
import Models
import Tensor
import Text

/// Optimisation settings of a RetroMAE run (the paper's defaults where it has them).
public struct TrainerConfig: Sendable {
    public var learningRate: Float = 1e-4
    public var weightDecay: Float = 0.01
    /// Updates in the whole run: the schedule decays linearly to zero there.
    public var totalSteps: Int
    /// Share of `totalSteps` spent warming up linearly from zero.
    public var warmupRatio: Float = 0.1
    /// Micro-batches whose gradients add up to one update.
    public var accumulation = 1
    /// Global gradient-norm clipping (nil: none).
    public var maxGradientNorm: Float? = 1
    /// Seed of the dropout generator.
    public var seed: UInt64 = 0
    /// Update after which Monarch feed-forward maps become dense ("reverse sparsification"; nil: never).
    public var densifyAtStep: Int?
    /// Stage 2: scores are [CLS] dot products over this temperature (0.02 with `normalize`, 1 without,
    /// in the reference fine-tuners).
    public var temperature: Float = 0.02
    /// Stage 2: unit-normalise [CLS] embeddings before scoring (cosine similarity).
    public var normalize = true

    public init(totalSteps: Int) { self.totalSteps = totalSteps }

    var schedule: LearningRateSchedule {
        LearningRateSchedule(peak: learningRate, warmupSteps: Int((warmupRatio * Float(totalSteps)).rounded()),
                             totalSteps: totalSteps, decay: .linear)
    }
}

/// What one update did.
public struct StepReport: Sendable {
    public var step: Int
    public var loss: Float
    public var encoderLoss: Float
    public var decoderLoss: Float
    public var encoderAccuracy: TokenAccuracy
    public var decoderAccuracy: TokenAccuracy
    public var learningRate: Float
    /// Non-padding tokens in the update's micro-batches.
    public var tokens: Int
    /// Stage 2 only: in-batch contrastive loss and how often the positive scored highest.
    public var contrastiveLoss: Float = 0
    public var contrastiveAccuracy = TokenAccuracy()
    /// Wall time of the update, and the part spent producing batches (collation, masking).
    public var seconds: Double = 0
    public var dataSeconds: Double = 0
}

/// Trains a `RetroMAEModel` on a `BlockDataset`: gradient accumulation, AdamW with linear warm-up
/// and decay, gradient clipping, and checkpoints holding model, optimizer, dropout generator and data
/// position, so a run restarted from a checkpoint takes exactly the updates the uninterrupted run would.
public final class RetroMAETrainer {
    public private(set) var model: RetroMAEModel
    /// Where `trainStep()` takes batches from; nil when batches stream in through `trainStep(on:)`.
    public let data: BlockDataset?
    /// Stage 2's query/passage pairs (nil in stage 1); batch k of the pairs goes with batch k of `data`.
    public let pairs: PairDataset?
    public let config: TrainerConfig
    private var optimizer: AdamW
    private var context: ForwardContext
    /// Updates taken.
    public private(set) var step = 0
    /// Batches consumed from `data`.
    public private(set) var dataPosition = 0
    /// Whether Monarch maps were multiplied out (the checkpoint's parameter names depend on it).
    public private(set) var densified = false

    public init(model: RetroMAEModel, data: BlockDataset?, pairs: PairDataset? = nil, config: TrainerConfig) {
        self.model = model
        self.data = data
        self.pairs = pairs
        self.config = config
        optimizer = AdamW(parameters: model.namedParameters, weightDecay: config.weightDecay)
        context = ForwardContext(training: true, rng: RandomGenerator(seed: config.seed))
    }

    /// One update over the next `config.accumulation` batches of `data` (and of `pairs` in stage 2).
    public func trainStep() throws -> StepReport {
        guard let data else { throw ModelError("trainer", "no dataset: pass batches to trainStep(on:)") }
        let start = ContinuousClock.now
        let positions = dataPosition..<dataPosition + config.accumulation
        let batches = try positions.map { index throws(TextError) in try data.batch(index) }
        let pairBatches = positions.map { pairs?.batch($0) }
        return try update(batches, pairBatches: pairBatches, dataTime: ContinuousClock.now - start)
    }

    /// One update over `microBatches` that arrived from elsewhere (a pipeline); they count towards
    /// `dataPosition`, so a resumed stream skips that many batches. In stage 2 each goes with the
    /// pair batch of its position.
    public func trainStep(on microBatches: [RetroMAEBatch]) throws -> StepReport {
        let positions = dataPosition..<dataPosition + microBatches.count
        return try update(microBatches, pairBatches: positions.map { pairs?.batch($0) }, dataTime: .zero)
    }

    private func update(_ batches: [RetroMAEBatch], pairBatches: [PairBatch?], dataTime: Duration) throws -> StepReport {
        let start = ContinuousClock.now
        if let densifyAt = config.densifyAtStep, step >= densifyAt, !densified { densifyFeedForward() }
        model.zeroGradients()
        var report = StepReport(step: step + 1, loss: 0, encoderLoss: 0, decoderLoss: 0, encoderAccuracy: .init(),
                                decoderAccuracy: .init(), learningRate: config.schedule.rate(at: step), tokens: 0)
        let scale = 1 / Float(max(1, batches.count))
        for (batch, pairBatch) in zip(batches, pairBatches) {
            let output = try model(batch, context: &context)
            var loss = output.loss
            if let pairBatch, let pairs {
                let encode = { (sequences: [[Int32]], context: inout ForwardContext) throws in
                    try self.model.encoder.sentenceEmbeddings(sequences, padId: pairs.padId, pooling: .cls,
                                                              normalize: self.config.normalize, context: &context)
                }
                let (contrastive, accuracy) = try contrastiveLoss(
                    queries: try encode(pairBatch.queries, &context), passages: try encode(pairBatch.passages, &context),
                    positives: pairBatch.positives, temperature: config.temperature)
                loss = loss + contrastive
                report.contrastiveLoss += contrastive.item * scale
                report.contrastiveAccuracy = report.contrastiveAccuracy + accuracy
            }
            (loss * scale).backward()
            dataPosition += 1
            report.loss += output.loss.item * scale
            report.encoderLoss += output.encoderLoss.item * scale
            report.decoderLoss += output.decoderLoss.item * scale
            report.encoderAccuracy = report.encoderAccuracy + output.encoderAccuracy
            report.decoderAccuracy = report.decoderAccuracy + output.decoderAccuracy
            report.tokens += batch.attentionMask.reduce(0) { $0 + Int($1) }
        }
        if let maxNorm = config.maxGradientNorm { clipGradientNorm(model.parameters, maxNorm: maxNorm) }
        optimizer.step(learningRate: report.learningRate)
        step += 1
        report.loss += report.contrastiveLoss
        report.dataSeconds = seconds(dataTime)
        report.seconds = seconds(ContinuousClock.now - start) + report.dataSeconds
        return report
    }

    /// Densifies Monarch maps and moves the optimizer to the new parameters, keeping the moments of
    /// every parameter that survives (all but the feed-forward factors).
    private func densifyFeedForward() {
        let previous = Dictionary(optimizer.state.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        model.densifyFeedForward()
        var next = AdamW(parameters: model.namedParameters, weightDecay: config.weightDecay)
        for (name, tensor) in next.state { if let old = previous[name], old.shape == tensor.shape { tensor.assign(old) } }
        next.stepCount = optimizer.stepCount
        optimizer = next
        densified = true
    }

    // MARK: Checkpoints

    /// Saves everything a restart needs into one safetensors file (written atomically).
    public func saveCheckpoint(to file: URL) throws {
        try Checkpoint.save(to: file, model: model, optimizer: optimizer, rng: context.rng, step: step,
                            extra: ["data.position": String(dataPosition), "densified": densified ? "1" : "0"])
    }

    /// Continues from a checkpoint written by `saveCheckpoint` of a trainer with the same model
    /// shape, data and config.
    public func resume(from file: URL) throws {
        let extra = try Checkpoint.extra(from: file)
        guard let position = extra["data.position"].flatMap({ Int($0) }) else {
            throw ModelError(file.path, "checkpoint has no data position ('extra.data.position')")
        }
        if extra["densified"] == "1", !densified { densifyFeedForward() }
        let (rng, savedStep) = try Checkpoint.restore(from: file, model: model, optimizer: &optimizer)
        (context.rng, step, dataPosition) = (rng, savedStep, position)
    }
}

private func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
}
