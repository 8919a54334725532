import Foundation
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

    /// Parses YAML text. Syntax errors come back as a diagnostic with the line and column.
    public static func parse(yaml: String, file: String) throws(Diagnostics) -> ConfigNode {
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw Diagnostics([Diagnostic(file: file, line: error.line, column: error.column, keyPath: "",
                                          message: "invalid YAML: \(error.problem)")])
        } catch {
            throw Diagnostics([Diagnostic(file: file, line: 1, column: 1, keyPath: "", message: "\(error)")])
        }
        guard let node else {
            throw Diagnostics([Diagnostic(file: file, line: 1, column: 1, keyPath: "", message: "the file is empty")])
        }
        return ConfigNode(node)
    }

    init(_ node: Node) {
        line = node.mark?.line ?? 0
        column = node.mark?.column ?? 0
        switch node {
        case let .scalar(scalar): content = .scalar(scalar.string)
        case let .mapping(mapping):
            content = .mapping(mapping.map { key, value in
                (key: key.string ?? "\(key)", keyLine: key.mark?.line ?? 0, value: ConfigNode(value))
            })
        case let .sequence(sequence): content = .sequence(sequence.map(ConfigNode.init))
        case let .alias(alias): content = .scalar(alias.anchor.rawValue)
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

    /// Sets the value at a dotted path (`stages.1.workers`), as `--set key=value` does.
    /// Missing mapping keys are added; a sequence index must exist.
    public mutating func set(path: ArraySlice<Substring>, to value: String) throws(Diagnostics) {
        guard let head = path.first else {
            self = ConfigNode(scalar: value, line: line)
            return
        }
        let rest = path.dropFirst()
        switch content {
        case var .mapping(entries):
            if let index = entries.firstIndex(where: { $0.key == head }) {
                try entries[index].value.set(path: rest, to: value)
            } else {
                var child = ConfigNode(content: .mapping([]), line: line, column: 0)
                try child.set(path: rest, to: value)
                entries.append((key: String(head), keyLine: line, value: child))
            }
            content = .mapping(entries)
        case var .sequence(items):
            guard let index = Int(head), items.indices.contains(index) else {
                throw Diagnostics([Diagnostic(file: "--set", line: 0, column: 0, keyPath: String(head),
                                              message: "no item \(head) in a list of \(items.count)")])
            }
            try items[index].set(path: rest, to: value)
            content = .sequence(items)
        case .scalar:
            throw Diagnostics([Diagnostic(file: "--set", line: 0, column: 0, keyPath: String(head),
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

/// Every problem found in a pipeline file, reported together.
public struct Diagnostics: Error, Sendable, CustomStringConvertible {
    public var problems: [Diagnostic]
    public init(_ problems: [Diagnostic]) { self.problems = problems }
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
