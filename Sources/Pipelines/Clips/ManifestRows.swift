import CSV
import Foundation
import SystemErrors

/// A value of a manifest row, as a sample field takes it.
public enum ManifestValue: Equatable, Sendable {
    case string(String), int(Int), double(Double)

    public var string: String? { if case let .string(text) = self { text } else { nil } }
}

/// One row of a clip manifest: the line it starts on, and its fields or why it cannot be used.
public struct ManifestRow: Sendable {
    public var line: Int
    public var fields: [String: ManifestValue]
    /// Why the row is unusable (then `fields` is empty): a line that is not a JSON object, a CSV
    /// row with the wrong number of fields, text that is not UTF-8.
    public var problem: String?
}

/// The rows of a clip manifest, the one reader behind the `manifest` source and `ClipManifest`:
/// JSON lines (one object a line, blank lines skipped), or, for a `.csv` / `.tsv` file, a header
/// row naming the columns and one row per record, read by yaslab's CSV.swift from a stream (quoted
/// commas, quotes and line breaks inside fields included). `columns` renames fields of either
/// format (`file_name` -> `video`); unmapped ones keep their names.
///
/// CSV cells are text, as CSV has no types, except that a cell written as a JSON number (`140`,
/// `-2.5`, `1e3`; not `007` or `+1`) outside the text fields `id`, `video`, `audio`, `caption` and
/// `split` becomes a number, as it would in a JSON line; an empty cell is no field, as a key left
/// out of a JSON line. So a CSV and a JSON lines manifest of the same clips give the same samples.
public struct ManifestRows: Sequence {
    public static let textFields: Set<String> = ["id", "video", "audio", "caption", "split"]

    let file: URL
    /// How rows are named in messages (the manifest's URL for a downloaded one).
    let name: String
    let columns: [String: String]

    /// `file` is read from the local file system; `name` is what messages call it, and its
    /// extension (`.csv`, `.tsv`, else JSON lines) says the format.
    public init(file: URL, name: String? = nil, columns: [String: String] = [:]) {
        self.file = file
        self.name = name ?? file.relativePath
        self.columns = columns
    }

    /// The CSV delimiter `name` asks for by its extension, or nil for JSON lines.
    public static func delimiter(of name: String) -> UnicodeScalar? {
        let lowered = name.lowercased().prefix { $0 != "?" }
        return lowered.hasSuffix(".csv") ? "," : lowered.hasSuffix(".tsv") ? "\t" : nil
    }

    /// Parses `from:to` pairs (the `columns` parameter) into a renaming, or says what is wrong.
    public static func columnMap(_ pairs: [String]) -> Result<[String: String], ColumnsError> {
        var map: [String: String] = [:]
        for pair in pairs {
            let parts = pair.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                return .failure(ColumnsError(.notAPair, "'\(pair)' is not COLUMN:FIELD (e.g. file_name:video)"))
            }
            guard map[parts[0]] == nil else { return .failure(ColumnsError(.mappedTwice, "column '\(parts[0])' is mapped twice")) }
            guard !map.values.contains(parts[1]) else {
                return .failure(ColumnsError(.mappedTwice, "two columns are mapped to field '\(parts[1])'"))
            }
            map[parts[0]] = parts[1]
        }
        return .success(map)
    }

    /// A `columns` parameter that cannot rename: named by the parameter, as the pair is in the reason.
    public struct ColumnsError: CodedError {
        public enum Code: String, Sendable {
            /// An entry that is not COLUMN:FIELD.
            case notAPair
            /// A column, or a field, named twice.
            case mappedTwice
        }

        public let code: Code
        public let reason: String
        public var path: String { "columns" }
        public var failure: Failure { .data }

        init(_ code: Code, _ reason: String) { (self.code, self.reason) = (code, reason) }

        public var description: String { "\(path): \(reason)" }
    }

    /// Opens the file; an unreadable one (or a CSV without a header row) is an error naming it.
    public func makeIterator() -> Iterator { Iterator(self) }

    public final class Iterator: IteratorProtocol {
        private let rows: ManifestRows
        private var source: Source
        /// Why the file cannot be read at all; thrown by `check()` and ending the rows.
        public private(set) var failure: StageError?

        private enum Source {
            case lines([Substring], next: Int)
            /// `line`: the last line the rows so far took up.
            case csv(CSVReader, InputStream, header: [String], line: Int)
            case done
        }

        init(_ rows: ManifestRows) {
            self.rows = rows
            source = .done
            if let delimiter = ManifestRows.delimiter(of: rows.name) {
                openCSV(delimiter)
            } else {
                do {
                    let text = try String(contentsOf: rows.file, encoding: .utf8)
                    source = .lines(text.split(separator: "\n", omittingEmptySubsequences: false), next: 0)
                } catch {
                    failure = StageError(.unreadableInput, path: rows.name, reason: "cannot read the manifest: \(SystemErrorText.words(error))")
                }
            }
        }

        /// Throws when the file could not be read at all.
        public func check() throws(StageError) { if let failure { throw failure } }

        private func openCSV(_ delimiter: UnicodeScalar) {
            guard FileManager.default.isReadableFile(atPath: rows.file.path), let stream = InputStream(url: rows.file) else {
                failure = StageError(.unreadableInput, path: rows.name, reason: "cannot read the manifest: it is missing or unreadable")
                return
            }
            do {
                let reader = try CSVReader(stream: stream, hasHeaderRow: true, delimiter: delimiter)
                let header = reader.headerRow ?? []
                if let error = Self.failure(of: reader, stream) { throw error }
                if let twice = Dictionary(grouping: header, by: { $0 }).first(where: { $0.value.count > 1 })?.key {
                    failure = StageError(.invalidItem, path: "\(rows.name):1", reason: "column '\(twice)' appears twice in the header row")
                    return
                }
                source = .csv(reader, stream, header: header, line: 1 + ManifestRows.lineBreaks(in: header))
            } catch {
                let why = switch error as? CSVError {
                case .cannotReadHeaderRow?, .cannotReadFile?: "the file is empty: a CSV or TSV manifest starts with a header row naming its columns"
                case .unicodeDecoding?: "the header row is not valid UTF-8"
                default: "cannot read the manifest: \(SystemErrorText.words(error))"
                }
                failure = StageError(.unreadableInput, path: rows.name, reason: why)
            }
        }

        public func next() -> ManifestRow? {
            switch source {
            case .done:
                return nil
            case .lines(let lines, var index):
                while index < lines.count {
                    let line = lines[index]
                    index += 1
                    guard !line.trimmingCharacters(in: .whitespaces).isEmpty else { continue }
                    source = .lines(lines, next: index)
                    return rows.jsonRow(line, number: index)
                }
                source = .done
                return nil
            case .csv(let reader, let stream, let header, var line):
                while let cells = reader.next() {
                    let start = line + 1
                    line = start + ManifestRows.lineBreaks(in: cells)
                    if let error = Self.failure(of: reader, stream) {
                        source = .done
                        let why = if case .unicodeDecoding? = error as? CSVError { "not valid UTF-8" } else { "cannot read on: \(error)" }
                        return ManifestRow(line: start, fields: [:], problem: "\(why); the rows from here on are not read")
                    }
                    source = .csv(reader, stream, header: header, line: line)
                    if cells == [""] { continue }  // a blank line
                    guard cells.count == header.count else {
                        return ManifestRow(line: start, fields: [:],
                                           problem: "has \(cells.count) field\(cells.count == 1 ? "" : "s"), the header row has \(header.count)")
                    }
                    return rows.csvRow(cells, header: header, line: start)
                }
                source = .done
                return nil
            }
        }

        /// The reader's error, unless it is the end of the file: on Linux a file stream says it has
        /// bytes until a read returns none, which CSV.swift then reports as `cannotReadFile`.
        private static func failure(of reader: CSVReader, _ stream: InputStream) -> Error? {
            guard let error = reader.error else { return nil }
            if case .cannotReadFile? = error as? CSVError, stream.streamStatus == .atEnd { return nil }
            return error
        }
    }

    func jsonRow(_ line: Substring, number: Int) -> ManifestRow {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
            return ManifestRow(line: number, fields: [:], problem: "not a JSON object")
        }
        var fields: [String: ManifestValue] = [:]
        for (key, value) in object {
            let field = columns[key] ?? key
            if let text = value as? String { fields[field] = .string(text) }
            else if let number = value as? Int { fields[field] = .int(number) }
            else if let number = value as? Double { fields[field] = .double(number) }
        }
        return ManifestRow(line: number, fields: fields)
    }

    func csvRow(_ cells: [String], header: [String], line: Int) -> ManifestRow {
        var fields: [String: ManifestValue] = [:]
        for (column, cell) in zip(header, cells) where !cell.isEmpty {
            let field = columns[column] ?? column
            fields[field] = Self.textFields.contains(field) ? .string(cell) : Self.value(of: cell)
        }
        return ManifestRow(line: line, fields: fields)
    }

    /// A cell as JSON would read it if it is a JSON number, else the text.
    static func value(of cell: String) -> ManifestValue {
        guard cell.utf8.allSatisfy({ "0123456789+-.eE".utf8.contains($0) }), cell.first != "+",
              let number = try? JSONSerialization.jsonObject(with: Data(cell.utf8), options: .fragmentsAllowed) as? NSNumber else {
            return .string(cell)
        }
        let isInteger = !cell.contains { ".eE".contains($0) }
        if isInteger, let int = Int(cell) { return .int(int) }
        return .double(number.doubleValue)
    }

    /// Line breaks inside fields (LF, CRLF or a lone CR each count once), to number later rows.
    static func lineBreaks(in cells: [String]) -> Int {
        cells.reduce(0) { count, cell in
            var breaks = 0, afterCR = false
            for scalar in cell.unicodeScalars {
                if scalar == "\r" { breaks += 1 } else if scalar == "\n" && !afterCR { breaks += 1 }
                afterCR = scalar == "\r"
            }
            return count + breaks
        }
    }
}
