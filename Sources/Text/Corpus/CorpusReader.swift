import Foundation

#if canImport(Glibc)
import Glibc
import SystemErrors
#endif

/// A document read from a corpus, with where it came from.
public struct Document: Sendable, Equatable {
    /// The document text, as read.
    public var text: String
    /// The file it was read from.
    public var source: String
    /// 1-based line where it starts.
    public var line: Int
}

extension CorpusQuarantine.Reason {
    /// True when one record (a line, a paragraph) was set aside, false when the rest of a file was.
    public var isRecord: Bool {
        if case .unreadable = self { return false }
        return true
    }
}

/// A record that was set aside instead of read, with the file, the line and the reason: bad input
/// is counted and reported, never dropped silently.
public struct CorpusQuarantine: Sendable, Equatable, CustomStringConvertible {
    /// Why a record was set aside.
    public enum Reason: Error, Sendable, Equatable {
        case invalidUTF8
        case lineTooLong(bytes: Int)
        case emptyDocument
        case invalidJSON(String)
        case missingField(String)
        /// The rest of the file could not be read (a corrupt or truncated compressed stream).
        case unreadable(String)
    }
    /// The file the record is in.
    public var source: String
    /// 1-based line (for an unreadable file: the first line that could not be read; 0 if it could not be opened).
    public var line: Int
    /// Why it was set aside.
    public var reason: Reason

    /// `file:line: reason`.
    public var description: String {
        let why: String
        switch reason {
        case .invalidUTF8: why = "invalid UTF-8"
        case .lineTooLong(let n): why = "line of \(n) bytes is over the limit"
        case .emptyDocument: why = "empty document"
        case .invalidJSON(let m): why = "invalid JSON: \(m)"
        case .missingField(let f): why = "no string field \"\(f)\""
        case .unreadable(let m): why = "unreadable from here on: \(m)"
        }
        return "\(source):\(line): \(why)"
    }
}

/// What a corpus reader yields: a document or a quarantined record.
public enum CorpusRecord: Sendable, Equatable {
    case document(Document)
    case quarantined(CorpusQuarantine)
}

/// How documents are laid out in the files.
public enum CorpusFormat: Sendable, Equatable {
    /// One document per line.
    case lines
    /// Documents separated by blank lines (their lines joined with "\n").
    case paragraphs
    /// JSON Lines; the document is the string in the given field.
    case jsonl(field: String)
}

/// Counts of what a reader has read and set aside so far.
public struct CorpusStats: Sendable, Equatable {
    /// Files opened.
    public var files = 0
    /// Documents yielded.
    public var documents = 0
    /// UTF-8 bytes of those documents.
    public var bytes = 0
    /// Records set aside.
    public var quarantined = 0
}

/// Expands paths, directories (recursively) and glob patterns into a sorted list of files.
public func expandCorpusPaths(_ patterns: [String]) throws(TextError) -> [String] {
    var files: [String] = []
    for pattern in patterns {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: pattern, isDirectory: &isDirectory) {
            if isDirectory.boolValue {
                guard let walker = FileManager.default.enumerator(atPath: pattern) else {
                    throw TextError(.unreadable, path: pattern, "cannot list directory")
                }
                var found: [String] = []
                while let relative = walker.nextObject() as? String {
                    let path = (pattern as NSString).appendingPathComponent(relative)
                    var dir: ObjCBool = false
                    if FileManager.default.fileExists(atPath: path, isDirectory: &dir), !dir.boolValue,
                       !relative.split(separator: "/").contains(where: { $0.hasPrefix(".") }) {
                        found.append(path)
                    }
                }
                files += found.sorted()
            } else {
                files.append(pattern)
            }
            continue
        }
        var g = glob_t()
        defer { globfree(&g) }
        guard glob(pattern, 0, nil, &g) == 0 else { throw TextError(.notFound, path: pattern, "no such file, directory or matching glob") }
        var matched: [String] = []
        for i in 0..<Int(g.gl_pathc) {
            if let p = g.gl_pathv[i] { matched.append(String(cString: p)) }
        }
        files += try expandCorpusPaths(matched.sorted())
    }
    return files
}

/// Streams documents from text, JSONL, gzip and zstd files with bounded memory, yielding each bad
/// record as a `CorpusQuarantine` in place.
public final class CorpusReader: IteratorProtocol, Sequence {
    /// The files to read, in order (patterns expanded, directories walked).
    public let files: [String]
    /// How documents are laid out.
    public let format: CorpusFormat
    /// Longer lines are quarantined, never held in memory.
    public let maxLineBytes: Int
    /// Blank documents (an empty line, an empty `text` field) are yielded rather than quarantined,
    /// so output can stay line for line with the input (Hugging Face encodes "" as [CLS] [SEP]).
    public let keepsEmptyDocuments: Bool
    /// Counts so far.
    public private(set) var stats = CorpusStats()
    private var fileIndex = 0
    private var lines: LineReader?

    /// - Parameters:
    ///   - paths: files, directories or glob patterns.
    ///   - maxLineBytes: longer lines are quarantined without being held in memory (at most 1 GiB).
    ///   - keepEmptyDocuments: yield blank documents instead of quarantining them.
    public init(paths: [String], format: CorpusFormat = .lines, maxLineBytes: Int = 1 << 20,
                keepEmptyDocuments: Bool = false) throws(TextError) {
        guard (1...Self.maxLineBytesLimit).contains(maxLineBytes) else {
            throw TextError(.invalidOption, "max line bytes must be 1...\(Self.maxLineBytesLimit), not \(maxLineBytes)")
        }
        files = try expandCorpusPaths(paths)
        self.format = format
        self.maxLineBytes = maxLineBytes
        keepsEmptyDocuments = keepEmptyDocuments
    }

    /// The largest line limit: one line is held in memory whole.
    public static let maxLineBytesLimit = 1 << 30

    /// The next record; a file that cannot be opened or read to its end yields an `unreadable`
    /// quarantine record and reading goes on with the next file.
    public func next() -> CorpusRecord? {
        while true {
            if lines == nil {
                guard fileIndex < files.count else { return nil }
                let path = files[fileIndex]
                fileIndex += 1
                stats.files += 1
                do {
                    lines = LineReader(stream: try ByteStream(path: path), maxLineBytes: maxLineBytes)
                } catch {
                    stats.quarantined += 1
                    return .quarantined(CorpusQuarantine(source: path, line: 0, reason: .unreadable(error.reason)))
                }
            }
            guard let reader = lines else { continue }
            let record: CorpusRecord?
            do {
                record = format == .paragraphs ? try nextParagraph(reader) : try nextLineRecord(reader)
            } catch {
                lines = nil
                stats.quarantined += 1
                return .quarantined(CorpusQuarantine(source: reader.stream.path, line: reader.lineNumber + 1,
                                                     reason: .unreadable(error.reason)))
            }
            guard let record else { lines = nil; continue }
            switch record {
            case .document(let d): stats.documents += 1; stats.bytes += d.text.utf8.count
            case .quarantined: stats.quarantined += 1
            }
            return record
        }
    }

    private func nextLineRecord(_ reader: LineReader) throws(TextError) -> CorpusRecord? {
        let path = reader.stream.path
        guard let raw = try reader.next() else { return nil }
        switch raw {
        case .tooLong(let length, let line):
            return .quarantined(CorpusQuarantine(source: path, line: line, reason: .lineTooLong(bytes: length)))
        case .bytes(let bytes, let line):
            guard let text = String(validating: bytes, as: UTF8.self) else {
                return .quarantined(CorpusQuarantine(source: path, line: line, reason: .invalidUTF8))
            }
            var document = text
            if case .jsonl(let field) = format {
                if isBlank(text) {
                    return .quarantined(CorpusQuarantine(source: path, line: line, reason: .emptyDocument))
                }
                switch jsonStringField(text, field) {
                case .success(let value): document = value
                case .failure(let reason): return .quarantined(CorpusQuarantine(source: path, line: line, reason: reason))
                }
            }
            if isBlank(document) && !keepsEmptyDocuments {
                return .quarantined(CorpusQuarantine(source: path, line: line, reason: .emptyDocument))
            }
            return .document(Document(text: document, source: path, line: line))
        }
    }

    /// A run of non-blank lines; a bad line makes the whole paragraph a quarantine record (a
    /// document with a hole in it would be silently altered).
    private func nextParagraph(_ reader: LineReader) throws(TextError) -> CorpusRecord? {
        let path = reader.stream.path
        var text = ""
        var firstLine = 0
        var problem: CorpusQuarantine?
        while let raw = try reader.next() {
            switch raw {
            case .tooLong(let length, let line):
                if firstLine == 0 { firstLine = line }
                problem = problem ?? CorpusQuarantine(source: path, line: line, reason: .lineTooLong(bytes: length))
            case .bytes(let bytes, let line):
                guard let s = String(validating: bytes, as: UTF8.self) else {
                    if firstLine == 0 { firstLine = line }
                    problem = problem ?? CorpusQuarantine(source: path, line: line, reason: .invalidUTF8)
                    continue
                }
                if isBlank(s) {
                    if firstLine != 0 { return finishParagraph(text, path, firstLine, problem) }
                    continue
                }
                if firstLine == 0 { firstLine = line } else { text += "\n" }
                text += s
                if text.utf8.count > maxLineBytes {
                    problem = problem ?? CorpusQuarantine(source: path, line: firstLine, reason: .lineTooLong(bytes: text.utf8.count))
                    text = ""
                }
            }
        }
        return firstLine == 0 ? nil : finishParagraph(text, path, firstLine, problem)
    }

    private func finishParagraph(_ text: String, _ path: String, _ line: Int, _ problem: CorpusQuarantine?) -> CorpusRecord {
        if let problem { return .quarantined(problem) }
        return .document(Document(text: text, source: path, line: line))
    }
}

func isBlank(_ s: String) -> Bool {
    s.unicodeScalars.allSatisfy { $0.properties.isWhitespace }
}

/// The string value of `field` in a JSON object line.
func jsonStringField(_ line: String, _ field: String) -> Result<String, CorpusQuarantine.Reason> {
    switch jsonObject(line) {
    case .failure(let r): return .failure(r)
    case .success(let object):
        guard let value = object[field] as? String else { return .failure(.missingField(field)) }
        return .success(value)
    }
}

func jsonObject(_ line: String) -> Result<[String: Any], CorpusQuarantine.Reason> {
    do {
        guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            return .failure(.invalidJSON("not an object"))
        }
        return .success(object)
    } catch {
        return .failure(.invalidJSON(SystemErrorText.words(error)))
    }
}
