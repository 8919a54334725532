/// A query with a relevant passage and optional hard negatives, for contrastive training.
public struct TextPair: Sendable, Equatable {
    /// The query (or NLI anchor).
    public var query: String
    /// A passage relevant to the query.
    public var positive: String
    /// Hard negatives, when the file has them.
    public var negatives: [String]
    /// The file it was read from.
    public var source: String
    /// 1-based line in that file.
    public var line: Int

    public init(query: String, positive: String, negatives: [String] = [], source: String, line: Int) {
        (self.query, self.positive, self.negatives, self.source, self.line) = (query, positive, negatives, source, line)
    }
}

/// What a pair reader yields: a pair or a quarantined record.
public enum PairRecord: Sendable, Equatable {
    case pair(TextPair)
    case quarantined(CorpusQuarantine)
}

/// Layout of a query/passage file.
public enum PairFormat: Sendable, Equatable {
    /// `query<TAB>positive[<TAB>negative...]` (MS MARCO triples, NLI anchor/entailment/contradiction).
    case tsv
    /// JSON Lines with a query string, a positive string or list (one pair per positive), and an
    /// optional negatives string or list.
    case jsonl(query: String = "query", positive: String = "pos", negatives: String = "neg")
}

/// Streams query/passage pairs from TSV or JSONL files (compressed or not) with bounded memory.
public final class PairReader: IteratorProtocol, Sequence {
    private let lines: CorpusReader
    /// How the files are laid out.
    public let format: PairFormat
    private var pending: [PairRecord] = []

    /// Reads `paths` (files, directories, globs); throws when nothing matches a path.
    public init(paths: [String], format: PairFormat = .tsv, maxLineBytes: Int = 1 << 20) throws(TextError) {
        lines = try CorpusReader(paths: paths, format: .lines, maxLineBytes: maxLineBytes)
        self.format = format
    }

    /// Counts of lines read and quarantined so far.
    public var stats: CorpusStats { lines.stats }

    /// The next record; unreadable files and bad lines come as quarantine records.
    public func next() -> PairRecord? {
        while pending.isEmpty {
            guard let record = lines.next() else { return nil }
            switch record {
            case .quarantined(let q): return .quarantined(q)
            case .document(let d): pending = parse(d).reversed()
            }
        }
        return pending.popLast()
    }

    private func parse(_ d: Document) -> [PairRecord] {
        func quarantine(_ r: CorpusQuarantine.Reason) -> [PairRecord] {
            [.quarantined(CorpusQuarantine(source: d.source, line: d.line, reason: r))]
        }
        switch format {
        case .tsv:
            let fields = d.text.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count >= 2 else { return quarantine(.missingField("positive (second tab-separated column)")) }
            guard !isBlank(fields[0]), !isBlank(fields[1]) else { return quarantine(.emptyDocument) }
            return [.pair(TextPair(query: fields[0], positive: fields[1], negatives: fields.dropFirst(2).filter { !isBlank($0) },
                                   source: d.source, line: d.line))]
        case .jsonl(let queryField, let positiveField, let negativesField):
            let object: [String: Any]
            switch jsonObject(d.text) {
            case .failure(let r): return quarantine(r)
            case .success(let o): object = o
            }
            guard let query = object[queryField] as? String else { return quarantine(.missingField(queryField)) }
            let positives = strings(object[positiveField])
            guard !positives.isEmpty else { return quarantine(.missingField(positiveField)) }
            let negatives = strings(object[negativesField])
            guard !isBlank(query), positives.allSatisfy({ !isBlank($0) }) else { return quarantine(.emptyDocument) }
            return positives.map {
                .pair(TextPair(query: query, positive: $0, negatives: negatives, source: d.source, line: d.line))
            }
        }
    }

    private func strings(_ value: Any?) -> [String] {
        if let s = value as? String { return [s] }
        return (value as? [Any])?.compactMap { $0 as? String } ?? []
    }
}
