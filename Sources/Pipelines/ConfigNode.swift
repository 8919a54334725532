import Foundation
import SystemErrors
import Yams

/// A YAML node that remembers where it came from, so every problem can name file, line and key.
public struct ConfigNode: Sendable {
    public enum Content: Sendable {
        case scalar(String)
        case mapping([(key: String, keyLine: Int, value: ConfigNode)])
        case sequence([ConfigNode])
    }

    public var content: Content
    public var line: Int
    public var column: Int
    /// The `--set key=value` argument this value came from: its problems name the argument,
    /// not the line of the file the value replaced.
    public var override: String?

    /// Parses YAML text. Syntax errors come back as a diagnostic with the line and column; every
    /// duplicate key is reported at its own line and column; aliases may not expand the document
    /// past `maxNodes` nodes (a "billion laughs" file of a few hundred bytes would fill memory).
    public static func parse(yaml: String, file: String) throws(Diagnostics) -> ConfigNode {
        var text = yaml
        var node: Node?
        // Yams stops at the first mapping with a repeated key. Each repeat found is tagged
        // `!<marker>N` (which makes it a distinct key) and the text parsed again, so that every
        // repeat is reported from the tree, at its place.
        for attempt in 0...maxDuplicateReports {
            do {
                node = try Yams.compose(yaml: text)
                break
            } catch let YamlError.duplicatedKeysInMapping(duplicates, context) {
                guard attempt < maxDuplicateReports, let key = duplicates.sorted().first,
                      let tagged = tagRepeat(of: key, after: context.mark, in: text, number: attempt) else {
                    throw Diagnostics([Diagnostic(file: file, line: context.mark.line, column: context.mark.column, keyPath: "",
                                                  message: "duplicate key(s) \(duplicates.sorted().map { "'\($0)'" }.joined(separator: ", ")) in this mapping")])
                }
                text = tagged
            } catch let error as YamlError {
                throw Diagnostics([Diagnostic(file: file, line: error.line, column: error.column, keyPath: "",
                                              message: "invalid YAML: \(error.problem)")])
            } catch {
                throw Diagnostics([Diagnostic(file: file, line: 1, column: 1, keyPath: "", message: "\(error)")])
            }
        }
        guard let node else {
            throw Diagnostics([Diagnostic(file: file, line: 1, column: 1, keyPath: "", message: "the file is empty")])
        }
        var converter = Converter(file: file)
        let root = try converter.convert(node, at: "")
        if !converter.duplicates.isEmpty { throw Diagnostics(converter.duplicates) }
        return root
    }

    /// Nodes a document may hold once aliases are expanded.
    static let maxNodes = 100_000
    /// Repeated keys reported before giving up on finding more.
    static let maxDuplicateReports = 50
    private static let duplicateMarker = "sluice-repeated-key-"

    /// `text` with the next use of `key` as a mapping key after `mark` (its first use) tagged as
    /// a repeat; nil when none is found (a quoted or complex key).
    static func tagRepeat(of key: String, after mark: Mark, in text: String, number: Int) -> String? {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { Array($0.unicodeScalars) }
        let pattern = Array(key.unicodeScalars)
        let blockColumn = mark.column - 1
        guard mark.line >= 1, mark.line <= lines.count, blockColumn >= 0 else { return nil }
        for row in (mark.line - 1)..<lines.count {
            let line = lines[row]
            var start = row == mark.line - 1 ? blockColumn + pattern.count : 0
            while start + pattern.count <= line.count {
                defer { start += 1 }
                guard Array(line[start..<start + pattern.count]) == pattern else { continue }
                var after = start + pattern.count
                while after < line.count, line[after] == " " { after += 1 }
                guard after < line.count, line[after] == ":", after + 1 == line.count || line[after + 1] == " " else { continue }
                let before = line[..<start].reversed().first { $0 != " " }
                let blockKey = start == blockColumn && (before == nil || before == "-")
                guard blockKey || before == "{" || before == "," else { continue }
                lines[row].insert(contentsOf: "!\(duplicateMarker)\(number) ".unicodeScalars, at: start)
                return lines.map { String(String.UnicodeScalarView($0)) }.joined(separator: "\n")
            }
        }
        return nil
    }

    /// Yams nodes to config nodes, counting nodes against `maxNodes` and collecting repeated keys.
    private struct Converter {
        let file: String
        var nodes = 0
        var duplicates: [Diagnostic] = []

        mutating func convert(_ node: Node, at path: String) throws(Diagnostics) -> ConfigNode {
            nodes += 1
            guard nodes <= ConfigNode.maxNodes else {
                throw Diagnostics([Diagnostic(file: file, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1, keyPath: "",
                                              message: "aliases expand the document past \(ConfigNode.maxNodes) values; write them out or use fewer aliases")])
            }
            let line = node.mark?.line ?? 0, column = node.mark?.column ?? 0
            switch node {
            case let .scalar(scalar): return ConfigNode(content: .scalar(scalar.string), line: line, column: column)
            case let .mapping(mapping):
                var entries: [(key: String, keyLine: Int, value: ConfigNode)] = []
                for (key, value) in mapping {
                    let name = key.string ?? "\(key)"
                    let keyPath = path.isEmpty ? name : "\(path).\(name)"
                    if key.tag.rawValue.contains(ConfigNode.duplicateMarker) {
                        let first = entries.first { $0.key == name }.map { " (first at line \($0.keyLine))" } ?? ""
                        duplicates.append(Diagnostic(file: file, line: key.mark?.line ?? 0, column: key.mark?.column ?? 0,
                                                     keyPath: keyPath, message: "duplicate key\(first)"))
                        continue
                    }
                    entries.append((key: name, keyLine: key.mark?.line ?? 0, value: try convert(value, at: keyPath)))
                }
                return ConfigNode(content: .mapping(entries), line: line, column: column)
            case let .sequence(sequence):
                var items: [ConfigNode] = []
                for (index, item) in sequence.enumerated() { items.append(try convert(item, at: "\(path)[\(index)]")) }
                return ConfigNode(content: .sequence(items), line: line, column: column)
            case let .alias(alias): return ConfigNode(content: .scalar(alias.anchor.rawValue), line: line, column: column)
            }
        }
    }

    init(content: Content, line: Int, column: Int) {
        self.content = content
        self.line = line
        self.column = column
    }

    init(scalar: String, line: Int = 0) {
        content = .scalar(scalar)
        self.line = line
        column = 0
    }

    public var scalar: String? {
        if case let .scalar(text) = content { return text }
        return nil
    }

    public var entries: [(key: String, keyLine: Int, value: ConfigNode)]? {
        if case let .mapping(entries) = content { return entries }
        return nil
    }

    public var items: [ConfigNode]? {
        if case let .sequence(items) = content { return items }
        return nil
    }

    public subscript(key: String) -> ConfigNode? {
        entries?.first { $0.key == key }?.value
    }

    /// The node as plain JSON-ready values, for the run manifest.
    public var plain: Any {
        switch content {
        case let .scalar(text): text
        case let .mapping(entries):
            Dictionary(entries.map { ($0.key, $0.value.plain) }, uniquingKeysWith: { _, last in last })
        case let .sequence(items): items.map(\.plain)
        }
    }

    /// Sets the value at a dotted path (`stages.1.workers`), as `--set key=value` does;
    /// `argument` is that `key=value`, which the new nodes keep as their `override`.
    /// Missing mapping keys are added; a sequence index must exist.
    public mutating func set(path: ArraySlice<Substring>, to value: String, argument: String) throws(Diagnostics) {
        guard let head = path.first else {
            self = ConfigNode(scalar: value)
            override = argument
            return
        }
        let rest = path.dropFirst()
        switch content {
        case var .mapping(entries):
            if let index = entries.firstIndex(where: { $0.key == head }) {
                try entries[index].value.set(path: rest, to: value, argument: argument)
            } else {
                var child = ConfigNode(content: .mapping([]), line: 0, column: 0)
                child.override = argument
                try child.set(path: rest, to: value, argument: argument)
                entries.append((key: String(head), keyLine: line, value: child))
            }
            content = .mapping(entries)
        case var .sequence(items):
            guard let index = Int(head), items.indices.contains(index) else {
                throw Diagnostics([Diagnostic(file: "--set \(argument)", line: 0, column: 0, keyPath: String(head),
                                              message: "no item \(head) in a list of \(items.count)")])
            }
            try items[index].set(path: rest, to: value, argument: argument)
            content = .sequence(items)
        case .scalar:
            throw Diagnostics([Diagnostic(file: "--set \(argument)", line: 0, column: 0, keyPath: String(head),
                                          message: "cannot set '\(head)' inside a plain value")])
        }
    }
}

/// One problem in a pipeline file.
public struct Diagnostic: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    /// Where in the document: `stages[1].workers`.
    public var keyPath: String
    public var message: String

    public var description: String {
        let place = line > 0 ? "\(file):\(line):\(max(column, 1))" : file
        return keyPath.isEmpty ? "\(place): \(message)" : "\(place): \(keyPath): \(message)"
    }
}

extension Diagnostic {
    /// A problem at `node`'s place: its line in `file` (or `line`), or the `--set` argument that gave it.
    init(at node: ConfigNode?, in file: String, line: Int? = nil, keyPath: String, message: String) {
        if let argument = node?.override {
            self.init(file: "--set \(argument)", line: 0, column: 0, keyPath: keyPath, message: message)
        } else {
            self.init(file: file, line: line ?? node?.line ?? 0, column: node?.column ?? 0, keyPath: keyPath, message: message)
        }
    }
}

/// Every problem found in a pipeline file, reported together. Problems have no kinds to tell
/// apart, so there is no `code`; each names its own place.
public struct Diagnostics: CodedError {
    public var problems: [Diagnostic]
    /// I/O when the file could not be read at all; bad data for problems in it.
    public var failure: Failure

    public init(_ problems: [Diagnostic], failure: Failure = .data) { (self.problems, self.failure) = (problems, failure) }

    /// The file (or `--set` argument) of the first problem.
    public var path: String { problems.first?.file ?? "" }
    /// Every problem, one a line, each with its place.
    public var reason: String { description }
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

extension YamlError {
    fileprivate var line: Int {
        switch self {
        case let .scanner(_, _, mark, _), let .parser(_, _, mark, _), let .composer(_, _, mark, _): mark.line
        default: 1
        }
    }
    fileprivate var column: Int {
        switch self {
        case let .scanner(_, _, mark, _), let .parser(_, _, mark, _), let .composer(_, _, mark, _): mark.column
        default: 1
        }
    }
    fileprivate var problem: String {
        switch self {
        case let .scanner(_, problem, _, _), let .parser(_, problem, _, _), let .composer(_, problem, _, _): problem
        default: "\(self)"
        }
    }
}
