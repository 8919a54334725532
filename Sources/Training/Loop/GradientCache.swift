import Tensor

/// The exact full-batch gradient of a contrastive loss, computed chunk by chunk (gradient caching,
/// Gao et al. 2021): a batch of 2048 clips cannot go through a video model in one recorded forward
/// pass here, and plain gradient accumulation is not equivalent for such a loss, because each
/// micro-batch would see only its own negatives.
///
/// 1. Embed every chunk without recording (keeping the dropout generator's state per chunk).
/// 2. Compute the loss over the whole batch's embeddings, and its gradient with respect to them.
/// 3. Re-run each chunk with recording, from the same generator state, and backpropagate its slice
///    of that gradient into the parameters.
///
/// Layers whose training-mode output depends on the chunk (BatchNorm's batch statistics) see
/// chunk statistics, as they would under data parallelism.
public enum GradientCache {
    /// Adds `scale` times the gradient of `loss(embeddings)` into the parameters' gradients and
    /// returns the loss. `embed(range, &context)` gives each tower's `[range.count, D]` embeddings
    /// of the examples in `range`; `loss` receives each tower's `[count, D]` embeddings.
    public static func accumulate(count: Int, chunkSize: Int, context: inout ForwardContext,
                                  embed: (Range<Int>, inout ForwardContext) throws -> [Tensor],
                                  loss: ([Tensor]) throws -> Tensor, scale: Float = 1) throws -> Tensor {
        let chunks = stride(from: 0, to: count, by: max(1, chunkSize)).map { $0..<min(count, $0 + max(1, chunkSize)) }
        var states: [RandomGenerator] = []
        var pieces: [[Tensor]] = []
        try GradMode.withoutGradients {
            for range in chunks {
                states.append(context.rng)
                pieces.append(try embed(range, &context))
            }
        }
        let towers = pieces.first?.count ?? 0
        let whole = (0..<towers).map { tower in
            let joined = concat(pieces.map { $0[tower] }, axis: 0).detached()
            joined.requiresGrad = true
            return joined
        }
        let value = try loss(whole)
        (value * scale).backward()
        let after = context.rng
        for (index, range) in chunks.enumerated() {
            context.rng = states[index]
            let outputs = try embed(range, &context)
            // One backward over the chunk's towers: the sum of <output, cached gradient slice>.
            var surrogate: Tensor?
            for (tower, output) in outputs.enumerated() {
                guard let gradient = whole[tower].grad else { continue }
                let term = (output * gradient.slice(axis: 0, range).detached()).sum()
                surrogate = surrogate.map { $0 + term } ?? term
            }
            surrogate?.backward()
        }
        context.rng = after
        return value.detached()
    }
}
