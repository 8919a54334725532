import Tensor
import Text

/// AVLnet's caption encoder: WordPiece ids through a learned embedding and a linear layer, then
/// pooled over the caption's tokens. Trained from scratch with the retrieval model.
public struct CaptionEncoder: Layer {
    public let embedding: Embedding
    public let projection: Linear
    public var pooling: FeaturePooling

    public var outputWidth: Int { projection.outFeatures }

    public init(vocabularySize: Int, embeddingWidth: Int = 300, outputWidth: Int = 1024, pooling: FeaturePooling = .max,
                rng: inout RandomGenerator) {
        embedding = Embedding(vocabularySize, embeddingWidth, rng: &rng)
        projection = Linear(embeddingWidth, outputWidth, rng: &rng)
        self.pooling = pooling
    }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        prefixed("embedding", embedding) + prefixed("projection", projection)
    }

    /// `[captions.count, outputWidth]` for token id sequences (each non-empty; shorter ones are
    /// padded internally). An id outside the vocabulary is an error naming it.
    public func callAsFunction(_ captions: [[Int32]]) throws(ModelError) -> Tensor {
        pooling(try tokenStates(captions).transposed(1, 2), lengths: captions.map(\.count))  // [N, L, D] -> [N, D, L]
    }

    /// `[captions.count, L, outputWidth]` per-token vectors before pooling (L the longest caption;
    /// rows past a caption's length are padding), for models that take the token sequence.
    public func tokenStates(_ captions: [[Int32]]) throws(ModelError) -> Tensor {
        let length = captions.map(\.count).max() ?? 0
        guard !captions.isEmpty else { throw ModelError(.invalidInput, "captions", "no captions to encode") }
        if let empty = captions.firstIndex(where: \.isEmpty) { throw ModelError(.invalidInput, "captions", "caption \(empty) has no tokens") }
        let vocabulary = embedding.weight.shape[0]
        for (row, caption) in captions.enumerated() {
            if let bad = caption.first(where: { $0 < 0 || Int($0) >= vocabulary }) {
                throw ModelError(.invalidInput, "captions", "token id \(bad) in caption \(row) is outside the vocabulary of \(vocabulary)")
            }
        }
        // Padding positions look up id 0; poolings and capsule masks exclude them.
        let ids = captions.flatMap { caption in (0..<length).map { $0 < caption.count ? Int(caption[$0]) : 0 } }
        let tokens: Tensor
        do { tokens = try embedding(ids, shape: [captions.count, length]) } catch { throw ModelError(error) }
        return projection(tokens)
    }
}
