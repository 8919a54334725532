import Foundation
import PipelineCore
@testable import Pipelines
import Testing

/// The `batch` stage stacks fields the way a trainer wants them.
struct BatchStageTests {
    func sample(_ id: Int, ids: [Int32]) -> Sample {
        Sample(["id": .int(id), "score": .double(Double(id) / 2), "name": .string("s\(id)"),
                "ids": .array(NDArray(shape: [ids.count], values: ids))])
    }

    @Test func stacksNumbersAndPadsVariableLengthArrays() throws {
        var batcher = SampleBatcher(size: 2, dropLast: false, padValue: 0)
        var out: [Sample] = []
        try batcher.process(sample(1, ids: [5, 6, 7]), into: &out)
        #expect(out.isEmpty)
        try batcher.process(sample(2, ids: [8]), into: &out)
        try batcher.process(sample(3, ids: [9, 9]), into: &out)
        try batcher.finish(into: &out)
        #expect(out.count == 2)
        let first = out[0]
        #expect(first["id"] == .array(NDArray(shape: [2], values: [Int64(1), 2])))
        #expect(first["score"] == .array(NDArray(shape: [2], values: [0.5, 1.0])))
        #expect(first["name"] == .list([.string("s1"), .string("s2")]))
        #expect(first["ids"] == .array(NDArray(shape: [2, 3], values: [Int32(5), 6, 7, 8, 0, 0])))
        #expect(out[1]["ids"] == .array(NDArray(shape: [1, 2], values: [Int32(9), 9])))
    }

    @Test func unequalShapesWithoutPaddingNameTheField() {
        var batcher = SampleBatcher(size: 2, dropLast: false, padValue: nil)
        var out: [Sample] = []
        #expect(throws: StageError.self) {
            try batcher.process(sample(1, ids: [1, 2]), into: &out)
            try batcher.process(sample(2, ids: [3]), into: &out)
        }
    }

    @Test func missingFieldNamesTheSample() throws {
        var batcher = SampleBatcher(size: 2, dropLast: true, padValue: nil)
        var out: [Sample] = []
        try batcher.process(Sample(["path": .string("a.wav"), "n": .int(1)]), into: &out)
        do {
            try batcher.process(Sample(["path": .string("b.wav")]), into: &out)
            Issue.record("expected an error")
        } catch let error as StageError {
            #expect(error.description == "b.wav: has no field 'n' that other samples in its batch have")
        }
    }
}
