import Foundation
import Models
import Testing
@testable import Tensor
import TestSupport

/// NCE, MMS and AMM against a PyTorch reference of the same equations (tools/contrastive_fixtures.py,
/// float64): random scores, a batch of two, ties, and raw dot products of +-1e4.
struct ContrastiveLossTests {
    static let variants: [String: ContrastiveLoss] = [
        "nce": ContrastiveLoss(kind: .nce),
        "mms": ContrastiveLoss(kind: .mms, margin: 0.001),
        "mms_large": ContrastiveLoss(kind: .mms, margin: 0.5),
        "amm": ContrastiveLoss(kind: .amm, alpha: 0.5),
        "amm_detached": ContrastiveLoss(kind: .amm, alpha: 0.5, detachMargin: true),
        "amm_clamped": ContrastiveLoss(kind: .amm, alpha: 0.3, clampMargin: true),
    ]

    @Test(arguments: ["random", "pair", "ties", "large"])
    func lossesAndGradientsMatchPyTorch(matrix: String) throws {
        let (reference, _) = try BertTests.fixture("contrastive.safetensors")
        for (label, loss) in Self.variants {
            let scores = try #require(reference["\(matrix).scores"]).copy()
            scores.requiresGrad = true
            let value = loss(scores)
            value.backward()
            let expected = try #require(reference["\(matrix).\(label).loss"]).scalars[0]
            #expect(value.item.isFinite && abs(value.item - expected) <= 1e-4 * max(1, abs(expected)), "\(matrix) \(label): \(value.item) vs \(expected)")
            let gradient = try #require(scores.grad), expectedGradient = try #require(reference["\(matrix).\(label).grad"])
            #expect(relativeError(gradient, expectedGradient) < 1e-4, "\(matrix) \(label) gradient: \(relativeError(gradient, expectedGradient))")
        }
    }

    /// The margin makes the positive harder to rank first: MMS and AMM exceed NCE's sibling without
    /// margin on a matrix that already ranks every positive first.
    @Test func marginsRaiseTheLossOfAnEasyBatch() {
        let scores = Tensor(shape: [3, 3], scalars: [4, 0, 1, 0, 4, 0, 1, 0, 4])
        let noMargin = ContrastiveLoss(kind: .mms, margin: 0)(scores).item
        #expect(ContrastiveLoss(kind: .mms, margin: 1)(scores).item > noMargin)
        #expect(ContrastiveLoss(kind: .amm)(scores).item > noMargin)
        #expect(ContrastiveLoss(kind: .nce)(scores).item < noMargin)  // the positive left out of the denominator
    }
}
