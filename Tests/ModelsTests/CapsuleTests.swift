import Foundation
import Testing
@testable import Models
@testable import Tensor

/// The multimodal capsule layer against a PyTorch reference of the same equations
/// (tools/capsule_fixtures.py, float64): three modalities of padded token sequences routed jointly,
/// by self-attention, by dynamic routing and by the no-capsule mean, then alone.
struct CapsuleTests {
    static let features: [Modality: Int] = [.video: 5, .audio: 4, .text: 3]

    /// The fixture's layer with its parameters, and its inputs as leaves that take gradients.
    static func fixtureLayer(_ routing: CapsuleRouting) throws -> (CapsuleNetwork, [ModalityTokens], [String: Tensor]) {
        let (_, reference) = try EncoderFixtures.read("capsules.safetensors")
        var rng = RandomGenerator(seed: 0)
        let layer = CapsuleNetwork(features: features, poseWidth: 4, outputCapsules: 3, embedding: 6, routing: routing, rng: &rng)
        for (name, tensor) in layer.namedParameters { tensor.assign(try #require(reference["param." + name], "param.\(name)")) }
        let inputs = try Modality.allCases.map { modality in
            let features = try #require(reference["input.\(modality)"]).copy()
            features.requiresGrad = true
            let lengths = try #require(reference["length.\(modality)"]).scalars.map { Int($0) }
            return ModalityTokens(modality, features: features, lengths: lengths)
        }
        return (layer, inputs, reference)
    }

    @Test(arguments: CapsuleRouting.allCases)
    func outputsAndGradientsMatchPyTorch(routing: CapsuleRouting) throws {
        let (layer, inputs, reference) = try Self.fixtureLayer(routing)
        let name = routing.rawValue
        EncoderFixtures.expectClose(layer.capsules(inputs), reference, "\(name).capsules")
        let embedding = layer(inputs)
        EncoderFixtures.expectClose(embedding, reference, "\(name).embedding")
        (embedding * (try #require(reference["probe"]))).sum().backward()
        for (parameter, tensor) in layer.namedParameters {
            EncoderFixtures.expectClose(tensor.grad, reference, "\(name).grad.\(parameter)")
        }
        for input in inputs {
            EncoderFixtures.expectClose(input.features.grad, reference, "\(name).grad.input.\(input.modality)")
        }
        let text = try #require(inputs.first { $0.modality == .text })
        let alone = GradMode.withoutGradients { layer([ModalityTokens(.text, features: text.features.detached(), lengths: text.lengths)]) }
        EncoderFixtures.expectClose(alone, reference, "\(name).text_alone")
    }

    @Test func activationsStayBetweenZeroAndOne() throws {
        var rng = RandomGenerator(seed: 3)
        let primary = PrimaryCapsules(8, poseWidth: 4, rng: &rng)
        let tokens = Tensor.normal([3, 10, 8], std: 4, rng: &rng)
        let valid = ModalityTokens(.audio, features: tokens, lengths: [10, 10, 10]).valid
        let activations = primary(tokens, valid: valid).activations.scalars
        #expect(activations.allSatisfy { $0 > 0 && $0 < 1 }, "\(activations.min()!)...\(activations.max()!)")
        for routing in [CapsuleRouting.selfAttention, .dynamic] {
            let (layer, inputs, _) = try Self.fixtureLayer(routing)
            let capsules = layer.capsules(inputs)
            let lengths = guardedLength(capsules).scalars
            #expect(lengths.allSatisfy { $0 >= 0 && $0 < 1 }, "\(routing): output activations \(lengths)")
        }
    }

    @Test(arguments: [CapsuleRouting.selfAttention, .dynamic])
    func zeroVotesGiveNoNaN(routing: CapsuleRouting) throws {
        let (layer, inputs, _) = try Self.fixtureLayer(routing)
        for transform in layer.transforms.values { transform.assign(Tensor.zeros(transform.shape)) }
        let capsules = layer.capsules(inputs)
        #expect(capsules.scalars.allSatisfy { $0 == 0 })
        layer(inputs).sum().backward()
        for (name, tensor) in layer.namedParameters {
            #expect(tensor.grad?.scalars.allSatisfy(\.isFinite) == true, "\(routing): gradient of \(name)")
        }
        #expect(inputs.allSatisfy { $0.features.grad?.scalars.allSatisfy(\.isFinite) == true })
    }

    /// Changing what a padded token holds changes neither the embedding nor any gradient, and the
    /// padded token itself gets a zero gradient.
    @Test(arguments: CapsuleRouting.allCases)
    func paddedTokensGetNoWeight(routing: CapsuleRouting) throws {
        func run(paddingValue: Float?) throws -> (embedding: [Float], gradients: [[Float]], audio: [Float]) {
            let (layer, inputs, _) = try Self.fixtureLayer(routing)
            let audio = try #require(inputs.first { $0.modality == .audio })
            if let paddingValue {
                // Row 1 holds one real audio token of 4: overwrite the other three.
                let (n, width) = (audio.features.shape[1], audio.features.shape[2])
                for t in 1..<n { for f in 0..<width { audio.features.storage.pointer[(n + t) * width + f] = paddingValue + Float(t * f) } }
            }
            let embedding = layer(inputs)
            embedding.sum().backward()
            return (embedding.scalars, layer.parameters.map { $0.grad?.scalars ?? [] }, audio.features.grad?.scalars ?? [])
        }
        let original = try run(paddingValue: nil), changed = try run(paddingValue: 50)
        #expect(original.embedding == changed.embedding)
        #expect(original.gradients == changed.gradients)
        let (n, width) = (4, 4)
        #expect((1..<n).allSatisfy { t in (0..<width).allSatisfy { changed.audio[(n + t) * width + $0] == 0 } })
    }
}
