import Foundation
import PipelineCore
import Text

/// Stages over text corpora: read documents and query/passage pairs, tokenize, pack blocks,
/// collate RetroMAE batches.
enum TextStages {
    static let specs: [StageSpec] = [text, textPairs, tokenize, pack, mlmMask, retromaeCollate]

    static let text = StageSpec(
        type: "text", role: .source,
        summary: "documents from text/JSONL files, gzip or zstd, as {text, source, line}; bad lines quarantined",
        parameters: [
            ParameterSpec("paths", .inputs(objects: false), required: true, help: "files, directories or glob patterns"),
            ParameterSpec("format", .choice(["lines", "paragraphs", "jsonl"]), default: "lines",
                          help: "one document per line, blank-line separated documents, or JSON lines"),
            ParameterSpec("field", .string, default: "text", help: "the JSONL field holding the document"),
            ParameterSpec("max_line_bytes", .int(min: 1, max: CorpusReader.maxLineBytesLimit), default: "1048576",
                          help: "longer lines are quarantined (one line is held in memory: at most 1 GiB)"),
        ]
    ) { parameters, environment in
        let format: CorpusFormat =
            switch parameters.optionalString("format") {
            case "paragraphs": .paragraphs
            case "jsonl": .jsonl(field: parameters.string("field"))
            default: .lines
            }
        return .source(CorpusSource(urls: parameters.inputs("paths"), format: format,
                                    maxLineBytes: parameters.int("max_line_bytes"), log: environment.inputs))
    }

    static let textPairs = StageSpec(
        type: "text_pairs", role: .source,
        summary: "query/positive/negatives from TSV or JSONL files (MS MARCO, NLI); bad lines quarantined",
        parameters: [
            ParameterSpec("paths", .inputs(objects: false), required: true, help: "files, directories or glob patterns"),
            ParameterSpec("format", .choice(["tsv", "jsonl"]), default: "tsv",
                          help: "query<TAB>positive[<TAB>negative...], or JSON lines"),
            ParameterSpec("query", .string, default: "query", help: "JSONL field of the query"),
            ParameterSpec("positive", .string, default: "pos", help: "JSONL field of the positive(s)"),
            ParameterSpec("negatives", .string, default: "neg", help: "JSONL field of the hard negative(s)"),
        ]
    ) { parameters, environment in
        let format: PairFormat = parameters.optionalString("format") == "jsonl"
            ? .jsonl(query: parameters.string("query"), positive: parameters.string("positive"),
                     negatives: parameters.string("negatives"))
            : .tsv
        return .source(PairSource(urls: parameters.inputs("paths"), format: format, log: environment.inputs))
    }

    static let tokenizerParameters = [
        ParameterSpec("tokenizer", .inputs(objects: false), required: true, help: "a BERT vocab.txt or a tokenizer.json"),
        ParameterSpec("lowercase", .bool, default: "true", help: "for vocab.txt: lowercase and strip accents"),
    ]

    static func loadTokenizer(_ parameters: StageParameters) throws -> BertTokenizer {
        guard let url = parameters.inputs("tokenizer").first else {
            throw StageError(path: parameters.stageName, reason: "no tokenizer file")
        }
        return try BertTokenizer(contentsOf: url, lowercase: parameters.bool("lowercase"))
    }

    static let tokenize = StageSpec(
        type: "tokenize", role: .stage,
        summary: "BERT WordPiece ids of a text field (as tokenizers makes them), as an int32 array",
        parameters: tokenizerParameters + [
            ParameterSpec("field", .string, default: "text", help: "the field to tokenize"),
            ParameterSpec("output", .string, default: "input_ids", help: "the field to write the ids to"),
            ParameterSpec("special_tokens", .bool, default: "true", help: "wrap in [CLS] ... [SEP]"),
            ParameterSpec("max_length", .int(min: 3), help: "truncate to this many tokens"),
        ],
        parallel: true
    ) { parameters, _ in
        var loaded = try loadTokenizer(parameters)
        loaded.truncation = parameters.optionalInt("max_length") ?? loaded.truncation
        let tokenizer = loaded
        let field = parameters.string("field")
        let output = parameters.string("output")
        let special = parameters.bool("special_tokens")
        return .map { sample in
            guard case let .string(text)? = sample[field] else {
                throw StageError(path: sample.itemDescription, reason: "no string field '\(field)' to tokenize")
            }
            let ids = tokenizer.encode(text, addSpecialTokens: special).ids
            var out = sample
            out[output] = .array(NDArray(shape: [ids.count], values: ids))
            return [out]
        }
    }

    static let pack = StageSpec(
        type: "pack", role: .stage,
        summary: "splits documents into sentences and packs their ids into blocks of max_length - 2 (nothing dropped)",
        parameters: tokenizerParameters + [
            ParameterSpec("field", .string, default: "text", help: "the document field"),
            ParameterSpec("max_length", .int(min: 3), default: String(RetroMAECollator.Options().maxLength),
                          help: "model length, [CLS] and [SEP] included (the default: retromae_collate's, which takes these blocks)"),
        ],
        parallel: true
    ) { parameters, _ in
        let packer = try BlockPacker(tokenizer: loadTokenizer(parameters), maxLength: parameters.int("max_length"))
        let field = parameters.string("field")
        return .map { sample in
            guard case let .string(text)? = sample[field] else {
                throw StageError(path: sample.itemDescription, reason: "no string field '\(field)' to pack")
            }
            return packer.pack(text).enumerated().map { index, block in
                var out = Sample()
                for key in ["source", "line", "id"] { if let v = sample[key] { out[key] = v } }
                out["block"] = .int(index)
                out["input_ids"] = .array(NDArray(shape: [block.count], values: block))
                return out
            }
        }
    }

    static let mlmMask = StageSpec(
        type: "mlm_mask", role: .stage,
        summary: "whole-word MLM masking of an ids field (80% [MASK], 10% random, 10% kept), labels -100 elsewhere",
        parameters: tokenizerParameters + [
            ParameterSpec("field", .string, default: "input_ids", help: "the int32 ids to mask (special tokens are never masked)"),
            ParameterSpec("ratio", .double(min: 0, max: 1), default: "0.15", help: "share of tokens masked, whole words at a time"),
            ParameterSpec("seed", .int(min: 0), default: "0", help: "item i uses the random stream (seed, i)"),
        ]
    ) { parameters, _ in
        let masker = WholeWordMasker(vocabulary: try MaskingVocabulary(tokenizer: loadTokenizer(parameters)))
        return .transform(MLMMasking(masker: masker, field: parameters.string("field"),
                                     ratio: parameters.double("ratio"), seed: UInt64(parameters.int("seed"))))
    }

    static let retromaeCollate = StageSpec(
        type: "retromae_collate", role: .stage,
        summary: "batches packed blocks into RetroMAE encoder/decoder inputs, labels and [B, L, L] decoder masks",
        parameters: tokenizerParameters + [
            ParameterSpec("field", .string, default: "input_ids", help: "the packed block field (int32 ids, no specials)"),
            ParameterSpec("batch_size", .int(min: 1), default: "32", help: "blocks per batch"),
        ] + RetroMAECollator.Options.parameterSpecs() + [
            ParameterSpec("seed", .int(min: 0), default: "0", help: "batch i uses seed + i"),
        ]
    ) { parameters, _ in
        var collator = RetroMAECollator(vocabulary: try MaskingVocabulary(tokenizer: loadTokenizer(parameters)))
        collator.options = try RetroMAECollator.Options(parameters)
        return .transform(RetroMAEBatcher(collator: collator, field: parameters.string("field"),
                                          batchSize: parameters.int("batch_size"),
                                          seed: UInt64(parameters.int("seed"))))
    }
}

/// Streams documents; quarantined records go to the run's quarantine (or fail it, under `fail`).
struct CorpusSource: Source {
    let urls: [URL]
    let format: CorpusFormat
    let maxLineBytes: Int
    let log: InputLog

    func run(_ emitter: Emitter<Sample>) throws {
        let reader = try CorpusReader(paths: urls.map(\.path), format: format, maxLineBytes: maxLineBytes)
        urls.forEach(log.record)
        while let record = reader.next() {
            switch record {
            case .document(let d):
                try emitter.emit(Sample(["text": .string(d.text), "source": .string(d.source), "line": .int(d.line)]))
            case .quarantined(let q):
                try emitter.skip(item: "\(q.source):\(q.line)", reason: q.description)
            }
        }
    }
}

/// Streams query/passage pairs as {query, positive, negatives, source, line}.
struct PairSource: Source {
    let urls: [URL]
    let format: PairFormat
    let log: InputLog

    func run(_ emitter: Emitter<Sample>) throws {
        let reader = try PairReader(paths: urls.map(\.path), format: format)
        urls.forEach(log.record)
        while let record = reader.next() {
            switch record {
            case .pair(let p):
                try emitter.emit(Sample([
                    "query": .string(p.query), "positive": .string(p.positive),
                    "negatives": .list(p.negatives.map { .string($0) }),
                    "source": .string(p.source), "line": .int(p.line),
                ]))
            case .quarantined(let q):
                try emitter.skip(item: "\(q.source):\(q.line)", reason: q.description)
            }
        }
    }
}

/// Masks each item's ids with its own random stream (numbered in input order, so a run is
/// reproducible from its seed); writes the masked ids back and the labels beside them.
struct MLMMasking: Transform {
    let masker: WholeWordMasker
    let field: String
    let ratio: Double
    let seed: UInt64
    var index = 0

    mutating func process(_ item: Sample, into output: inout [Sample]) throws {
        guard case let .array(array)? = item[field], array.dtype == .int32, array.shape.count == 1 else {
            throw StageError(path: item.itemDescription, reason: "field '\(field)' is not a 1-D int32 array of ids")
        }
        var rng = SplitMix64.stream(seed: seed, index: index)
        index += 1
        let (input, labels) = masker.mask(array.values(as: Int32.self), ratio: ratio, using: &rng)
        var out = item
        out[field] = .array(NDArray(shape: [input.count], values: input))
        out["labels"] = .array(NDArray(shape: [labels.count], values: labels))
        output.append(out)
    }
}

/// Holds blocks until a batch is full, then emits one sample of RetroMAE tensors.
struct RetroMAEBatcher: Transform {
    let collator: RetroMAECollator
    let field: String
    let batchSize: Int
    let seed: UInt64
    var blocks: [[Int32]] = []
    var batches: UInt64 = 0

    mutating func process(_ item: Sample, into output: inout [Sample]) throws {
        guard case let .array(array)? = item[field], array.dtype == .int32, array.shape.count == 1 else {
            throw StageError(path: item.itemDescription, reason: "field '\(field)' is not a 1-D int32 array of ids")
        }
        blocks.append(array.values(as: Int32.self))
        if blocks.count == batchSize { try emit(into: &output) }
    }

    mutating func finish(into output: inout [Sample]) throws {
        if !blocks.isEmpty { try emit(into: &output) }
    }

    private mutating func emit(into output: inout [Sample]) throws {
        let b = try collator.collate(blocks, seed: seed &+ batches)
        let (n, l) = (b.batchSize, b.length)
        output.append(Sample([
            "batch": .int(Int(batches)),
            "encoder_input_ids": .array(NDArray(shape: [n, l], values: b.encoderInputIds)),
            "encoder_labels": .array(NDArray(shape: [n, l], values: b.encoderLabels)),
            "attention_mask": .array(NDArray(shape: [n, l], values: b.attentionMask)),
            "decoder_input_ids": .array(NDArray(shape: [n, l], values: b.decoderInputIds)),
            "decoder_labels": .array(NDArray(shape: [n, l], values: b.decoderLabels)),
            "decoder_attention_mask": .array(NDArray(shape: [n, l, l], values: b.decoderAttentionMask)),
        ]))
        blocks.removeAll(keepingCapacity: true)
        batches += 1
    }
}
