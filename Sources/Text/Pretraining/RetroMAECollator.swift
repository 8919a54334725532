import Dispatch
import Synchronization

/// One RetroMAE training batch, row-major and flat, ready for tensors.
public struct RetroMAEBatch: Sendable {
    /// B: the number of sequences.
    public let batchSize: Int
    /// L: the longest sequence of the batch, [CLS] and [SEP] included.
    public let length: Int
    /// [B, L] encoder input: whole-word masked at the encoder ratio.
    public var encoderInputIds: [Int32]
    /// [B, L] original ids at masked positions, -100 elsewhere.
    public var encoderLabels: [Int32]
    /// [B, L] 1 for tokens, 0 for padding.
    public var attentionMask: [UInt8]
    /// [B, L] the unmasked sequence (the decoder's content stream).
    public var decoderInputIds: [Int32]
    /// [B, L] original ids on every non-special position, -100 on [CLS]/[SEP]/padding.
    public var decoderLabels: [Int32]
    /// [B, L, L] 1 where query position i may attend to content position j: a sampled whole-word
    /// mask at the decoder ratio per row, the diagonal hidden, position 0 visible to rows >= 1,
    /// padding columns hidden (padding rows see only position 0, so no row is empty).
    public var decoderAttentionMask: [UInt8]

    /// A batch from its arrays (e.g. read back from a pipeline's samples); sizes are the caller's to check.
    public init(batchSize: Int, length: Int, encoderInputIds: [Int32], encoderLabels: [Int32], attentionMask: [UInt8],
                decoderInputIds: [Int32], decoderLabels: [Int32], decoderAttentionMask: [UInt8]) {
        (self.batchSize, self.length, self.encoderInputIds, self.encoderLabels) = (batchSize, length, encoderInputIds, encoderLabels)
        (self.attentionMask, self.decoderInputIds, self.decoderLabels) = (attentionMask, decoderInputIds, decoderLabels)
        self.decoderAttentionMask = decoderAttentionMask
    }
}

/// Builds RetroMAE batches from packed blocks (token ids without special tokens).
///
/// Each sequence gets `maskSamples` (at most its length) independent whole-word masks at the decoder
/// ratio, and every row of its decoder mask copies a random one of them, as the reference collator
/// does. Sequences are collated in parallel with per-sequence random streams, so a batch depends only
/// on its seed.
public struct RetroMAECollator: Sendable {
    /// Special and continuation ids of the tokenizer.
    public let vocabulary: MaskingVocabulary
    /// Mask ratios and the longest sequence: what a `retromae_collate` stage sets.
    public var options = Options()
    /// How many decoder masks are sampled per sequence (rows draw from them).
    public var maskSamples = 256
    /// Threads used for one batch.
    public var threads = 2

    /// A collator with the paper's defaults.
    public init(vocabulary: MaskingVocabulary) { self.vocabulary = vocabulary }

    /// Collates `blocks`; a block longer than `options.maxLength - 2` is an error (packing should have cut it:
    /// the collator never drops tokens silently). Block `b` draws its masks from `seed` and
    /// `firstRow + b`, so a data-parallel rank collating rows `firstRow...` of a global batch masks
    /// them as a one-process run collating the whole batch does.
    public func collate(_ blocks: [[Int32]], seed: UInt64, firstRow: Int = 0) throws(TextError) -> RetroMAEBatch {
        for (b, block) in blocks.enumerated() where block.count > options.maxLength - 2 {
            throw TextError(.invalidOption, line: b + 1, "block of \(block.count) tokens is longer than max length \(options.maxLength) - 2")
        }
        let batch = blocks.count
        let length = (blocks.map(\.count).max() ?? 0) + 2
        let rowSize = length
        var encoderInput = [Int32](repeating: vocabulary.padId, count: batch * rowSize)
        var encoderLabels = [Int32](repeating: ignoreLabel, count: batch * rowSize)
        var attention = [UInt8](repeating: 0, count: batch * rowSize)
        var decoderInput = [Int32](repeating: vocabulary.padId, count: batch * rowSize)
        var decoderLabels = [Int32](repeating: ignoreLabel, count: batch * rowSize)
        // Every byte of the decoder mask is written by `collateOne`, so it starts uninitialized.
        var decoderMask = [UInt8](unsafeUninitializedCapacity: batch * rowSize * rowSize) { _, count in
            count = batch * rowSize * rowSize
        }
        let vocabulary = self.vocabulary
        let (encoderRatio, decoderRatio, maskSamples) = (options.encoderRatio, options.decoderRatio, self.maskSamples)

        encoderInput.withUnsafeMutableBufferPointer { encIn in
        encoderLabels.withUnsafeMutableBufferPointer { encLab in
        attention.withUnsafeMutableBufferPointer { att in
        decoderInput.withUnsafeMutableBufferPointer { decIn in
        decoderLabels.withUnsafeMutableBufferPointer { decLab in
        decoderMask.withUnsafeMutableBufferPointer { decMask in
            let out = Outputs(encIn: encIn, encLab: encLab, att: att, decIn: decIn, decLab: decLab, decMask: decMask)
            let workers = max(1, min(threads, batch))
            // Workers claim sequences one at a time, so a worker that starts late (a busy machine)
            // takes fewer of them instead of holding the batch back.
            let next = SequenceCounter()
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                // Scratch for one sequence, reused across this worker's sequences: the encoder's
                // chosen positions, then the sampled decoder visibility rows.
                let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: length &* (max(1, min(maskSamples, length)) &+ 1))
                defer { scratch.deallocate() }
                while true {
                    let b = next.claim()
                    guard b < batch else { break }
                    var rng = SplitMix64.stream(seed: seed, index: firstRow &+ b)
                    Self.collateOne(blocks[b], row: b, length: length, out: out, vocabulary: vocabulary,
                                    encoderRatio: encoderRatio, decoderRatio: decoderRatio,
                                    maskSamples: maskSamples, scratch: scratch, rng: &rng)
                }
            }
        }}}}}}
        return RetroMAEBatch(batchSize: batch, length: length, encoderInputIds: encoderInput, encoderLabels: encoderLabels,
                             attentionMask: attention, decoderInputIds: decoderInput, decoderLabels: decoderLabels,
                             decoderAttentionMask: decoderMask)
    }

    /// Hands out sequence indices to workers.
    private final class SequenceCounter: Sendable {
        private let value = Atomic<Int>(0)
        func claim() -> Int { value.add(1, ordering: .relaxed).oldValue }
    }

    /// The output buffers; each sequence writes only its own rows.
    private struct Outputs: @unchecked Sendable {
        let encIn: UnsafeMutableBufferPointer<Int32>
        let encLab: UnsafeMutableBufferPointer<Int32>
        let att: UnsafeMutableBufferPointer<UInt8>
        let decIn: UnsafeMutableBufferPointer<Int32>
        let decLab: UnsafeMutableBufferPointer<Int32>
        let decMask: UnsafeMutableBufferPointer<UInt8>
    }

    private static func collateOne(_ block: [Int32], row b: Int, length L: Int, out: Outputs, vocabulary: MaskingVocabulary,
                                   encoderRatio: Double, decoderRatio: Double, maskSamples: Int,
                                   scratch: UnsafeMutablePointer<UInt8>, rng: inout SplitMix64) {
        let n = block.count + 2
        let base = b &* L
        // Decoder content stream and labels: the original sequence.
        out.decIn[base] = vocabulary.clsId
        for (k, id) in block.enumerated() {
            out.decIn[base &+ 1 &+ k] = id
            out.decLab[base &+ 1 &+ k] = vocabulary.isSpecial.indices.contains(Int(id)) && vocabulary.isSpecial[Int(id)] ? ignoreLabel : id
        }
        out.decIn[base &+ n &- 1] = vocabulary.sepId
        for i in 0..<n { out.att[base &+ i] = 1 }

        var words = WordSpans(block[...], offset: 1, vocabulary)
        // Encoder: whole-word MLM at the encoder ratio.
        let chosen = scratch
        chosen.initialize(repeating: 0, count: L)
        words.select(ratio: encoderRatio, into: chosen, using: &rng)
        for i in 0..<n {
            let id = out.decIn[base &+ i]
            out.encIn[base &+ i] = id
            guard chosen[i] != 0 else { continue }
            out.encLab[base &+ i] = id
            let roll = rng.unit()
            if roll < 0.8 {
                out.encIn[base &+ i] = vocabulary.maskId
            } else if roll < 0.9 {
                out.encIn[base &+ i] = vocabulary.randomIds[rng.below(vocabulary.randomIds.count)]
            }
        }

        // Decoder: K sampled visibility rows (1 = visible), then each row copies one of them.
        let k = max(1, min(maskSamples, n))
        let samples = scratch + L
        for s in 0..<k {
            let visible = samples + s &* L
            visible.initialize(repeating: 1, count: n)
            (visible + n).initialize(repeating: 0, count: L &- n)
            words.select(ratio: decoderRatio, into: visible, mark: 0, using: &rng)
        }
        let matrix = out.decMask.baseAddress! + b &* L &* L
        for i in 0..<L {
            let rowPtr = matrix + i &* L
            if i < n {
                rowPtr.update(from: samples + rng.below(k) &* L, count: L)
                rowPtr[i] = 0
                if i >= 1 { rowPtr[0] = 1 }
            } else {
                rowPtr[0] = 1
                (rowPtr + 1).initialize(repeating: 0, count: L &- 1)
            }
        }
    }
}
