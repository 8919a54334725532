import Models
import Tensor
import Text

/// Pre-training metrics on held-out batches (the reference code never reported any).
public struct RetroMAEEvaluation: Sendable {
    public var encoderLoss: Float
    public var decoderLoss: Float
    /// Decoder loss when every sequence gets another sequence's sentence embedding: clearly above
    /// `decoderLoss` when the decoder relies on the embedding.
    public var shuffledDecoderLoss: Float
    public var encoderAccuracy: TokenAccuracy
    public var decoderAccuracy: TokenAccuracy
}

extension RetroMAEModel {
    /// Mean losses and pooled accuracies over `batches`, dropout off. Batches of one sequence have
    /// nothing to shuffle with and are rejected.
    public func evaluate(_ batches: [RetroMAEBatch]) throws -> RetroMAEEvaluation {
        guard !batches.isEmpty else { throw TrainingError(.data, "evaluation", "no batches") }
        var result = RetroMAEEvaluation(encoderLoss: 0, decoderLoss: 0, shuffledDecoderLoss: 0,
                                        encoderAccuracy: .init(), decoderAccuracy: .init())
        var context = ForwardContext.inference
        for batch in batches {
            guard batch.batchSize > 1 else { throw TrainingError(.data, "evaluation", "a batch of one sequence cannot be shuffled") }
            let rotated = Array(1..<batch.batchSize) + [0]
            let (output, shuffled) = try GradMode.withoutGradients {
                (try self(batch, context: &context), try self(batch, context: &context, embeddingOrder: rotated))
            }
            result.encoderLoss += output.encoderLoss.item / Float(batches.count)
            result.decoderLoss += output.decoderLoss.item / Float(batches.count)
            result.shuffledDecoderLoss += shuffled.decoderLoss.item / Float(batches.count)
            result.encoderAccuracy = result.encoderAccuracy + output.encoderAccuracy
            result.decoderAccuracy = result.decoderAccuracy + output.decoderAccuracy
        }
        return result
    }
}
