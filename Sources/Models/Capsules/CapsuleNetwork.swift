import Tensor

/// One modality's token sequences: `[B, N, F]` features (frames, audio time steps, words), row b
/// holding `lengths[b]` real tokens and padding after them.
public struct ModalityTokens {
    public var modality: Modality
    public var features: Tensor
    public var lengths: [Int]

    public init(_ modality: Modality, features: Tensor, lengths: [Int]) {
        precondition(features.rank == 3 && lengths.count == features.shape[0] && lengths.allSatisfy { $0 >= 1 && $0 <= features.shape[1] },
                     "ModalityTokens: \(modality) features \(features.shape) with lengths \(lengths)")
        (self.modality, self.features, self.lengths) = (modality, features, lengths)
    }

    /// `[B, N]`: 1 on real tokens, 0 on padding.
    var valid: Tensor {
        let n = features.shape[1]
        return Tensor(shape: [lengths.count, n], scalars: lengths.flatMap { length in (0..<n).map { $0 < length ? 1 : 0 } })
    }
}

/// Primary capsules of one modality: each token through one linear map to a pose (D values) and
/// an activation logit, a_i = sigmoid(logit) in (0, 1). Padded tokens get pose 0 and activation 0.
public struct PrimaryCapsules: Layer {
    public let map: Linear
    public let poseWidth: Int

    public init(_ features: Int, poseWidth: Int, rng: inout RandomGenerator) {
        map = Linear(features, poseWidth + 1, rng: &rng)
        self.poseWidth = poseWidth
    }

    public var namedParameters: [(name: String, tensor: Tensor)] { prefixed("map", map) }

    /// Poses `[B, N, D]` and activations `[B, N]`, both zero where `valid` (`[B, N]`) is 0.
    public func callAsFunction(_ tokens: Tensor, valid: Tensor) -> (poses: Tensor, activations: Tensor) {
        let (b, n) = (tokens.shape[0], tokens.shape[1])
        let parts = map(tokens).split(axis: 2, sizes: [poseWidth, 1])
        return (parts[0] * valid.reshaped([b, n, 1]), parts[1].reshaped([b, n]).sigmoid() * valid)
    }
}

/// The multimodal capsule layer (this project's design; see `CapsuleRouting` for the routing):
/// primary capsules from each present modality's tokens, votes û_{n|i} = W_{n,m(i)} u_i of every
/// primary capsule i for every output capsule n through a learned D x D transform per output
/// capsule and modality (Efficient-CapsNet has one per (n, i); tokens here vary in number, so the
/// transform is shared along a modality's sequence), the routing, and the output capsules v_n
/// (poses weighted by their activations) flattened through a projection head into the joint space.
///
/// Any subset of the modalities goes through the same layer: one modality alone embeds a query
/// (a caption retrieves videos), several together route jointly across all their capsules.
public struct CapsuleNetwork: Layer {
    public let primaries: [Modality: PrimaryCapsules]
    /// Per modality `[D, M * D]`: column block n is W_{n,m}ᵀ.
    public let transforms: [Modality: Tensor]
    public let head: ProjectionHead
    public let routing: CapsuleRouting
    public let outputCapsules: Int
    public let poseWidth: Int

    /// `features[m]`: the token width of modality m's encoder.
    public init(features: [Modality: Int], poseWidth: Int, outputCapsules: Int, embedding: Int, routing: CapsuleRouting,
                normalize: Bool = false, rng: inout RandomGenerator) {
        var primaries: [Modality: PrimaryCapsules] = [:], transforms: [Modality: Tensor] = [:]
        let bound = 1 / Float(poseWidth).squareRoot()
        for modality in Modality.allCases {
            guard let width = features[modality] else { continue }
            primaries[modality] = PrimaryCapsules(width, poseWidth: poseWidth, rng: &rng)
            transforms[modality] = .uniform([poseWidth, outputCapsules * poseWidth], low: -bound, high: bound, rng: &rng, requiresGrad: true)
        }
        (self.primaries, self.transforms, self.routing, self.outputCapsules, self.poseWidth) =
            (primaries, transforms, routing, outputCapsules, poseWidth)
        head = ProjectionHead(outputCapsules * poseWidth, output: embedding, normalize: normalize, rng: &rng)
    }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        Modality.allCases.flatMap { modality -> [(name: String, tensor: Tensor)] in
            guard let primary = primaries[modality], let transform = transforms[modality] else { return [] }
            return prefixed("primary.\(modality.rawValue)", primary) + [("transform.\(modality.rawValue)", transform)]
        } + prefixed("head", head)
    }

    /// Votes `[B, M, N, D]`, activations and validity `[B, N]` over the inputs' capsules, in order.
    public func votes(_ inputs: [ModalityTokens]) -> (votes: Tensor, activations: Tensor, valid: Tensor) {
        precondition(!inputs.isEmpty && Set(inputs.map(\.features.shape[0])).count == 1, "CapsuleNetwork: needs inputs of one batch size")
        var votes: [Tensor] = [], activations: [Tensor] = [], valid: [Tensor] = []
        for input in inputs {
            guard let primary = primaries[input.modality], let transform = transforms[input.modality] else {
                preconditionFailure("CapsuleNetwork: built without a \(input.modality) input")
            }
            let (b, n) = (input.features.shape[0], input.features.shape[1])
            let mask = input.valid
            let (poses, active) = primary(input.features, valid: mask)
            votes.append(matmul(poses, transform).reshaped([b, n, outputCapsules, poseWidth]).permuted([0, 2, 1, 3]))
            activations.append(active)
            valid.append(mask)
        }
        guard votes.count > 1 else { return (votes[0], activations[0], valid[0]) }
        return (concat(votes, axis: 2), concat(activations, axis: 1), concat(valid, axis: 1))
    }

    /// Output capsules `[B, M, D]` (each v_n, its length the activation).
    public func capsules(_ inputs: [ModalityTokens]) -> Tensor {
        let (votes, activations, valid) = votes(inputs)
        return routing.route(votes: votes, activations: activations, valid: valid)
    }

    /// `[B, embedding]`: the joint embedding of the inputs (one modality or several).
    public func callAsFunction(_ inputs: [ModalityTokens]) -> Tensor {
        let v = capsules(inputs)
        return head(v.reshaped([v.shape[0], outputCapsules * poseWidth]))
    }
}
