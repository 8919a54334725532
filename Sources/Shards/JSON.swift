import Foundation

/// A JSON value that keeps object key order and the int/float distinction, so that `json` columns
/// and `index.json` round-trip byte for byte with Python's `json` module.
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    /// Integers above `Int64.max` (a uint64 column's top half), which Python prints exactly.
    case uint(UInt64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    /// Key order is kept as written: Python dicts are ordered, and MDS hashes the bytes.
    case object([(String, JSONValue)])

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.int(a), .int(b)): return a == b
        case let (.uint(a), .uint(b)): return a == b
        case let (.double(a), .double(b)): return a == b || (a.isNaN && b.isNaN)
        case let (.string(a), .string(b)): return a == b
        case let (.array(a), .array(b)): return a == b
        case let (.object(a), .object(b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// The value under `key` of an object, or nil.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let pairs) = self else { return nil }
        return pairs.first { $0.0 == key }?.1
    }

    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var intValue: Int64? { if case .int(let i) = self { return i } else { return nil } }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    public var isNull: Bool { if case .null = self { return true } else { return false } }
}

// MARK: - Writing, as Python's json.dumps does

extension JSONValue {
    /// The text `json.dumps(value, sort_keys: sortKeys)` prints in Python: `", "` and `": "`
    /// separators, non-ASCII escaped as `\uXXXX`, floats in `repr` form.
    public func pythonJSON(sortKeys: Bool = false) -> String {
        var out = ""
        write(to: &out, sortKeys: sortKeys)
        return out
    }

    private func write(to out: inout String, sortKeys: Bool) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .uint(let u): out += String(u)
        case .double(let d): out += Self.pythonRepr(d)
        case .string(let s): Self.writeString(s, to: &out)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += ", " }
                item.write(to: &out, sortKeys: sortKeys)
            }
            out += "]"
        case .object(let pairs):
            let ordered = sortKeys ? pairs.sorted { Self.codepointLess($0.0, $1.0) } : pairs
            out += "{"
            for (i, (key, value)) in ordered.enumerated() {
                if i > 0 { out += ", " }
                Self.writeString(key, to: &out)
                out += ": "
                value.write(to: &out, sortKeys: sortKeys)
            }
            out += "}"
        }
    }

    /// Python sorts dict keys by code point, which differs from Swift's `String <` beyond ASCII.
    static func codepointLess(_ a: String, _ b: String) -> Bool {
        a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) { $0.value < $1.value }
    }

    private static let hexDigits = Array("0123456789abcdef")

    private static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value >= 0x20 && scalar.value < 0x7F {
                    out.unicodeScalars.append(scalar)
                } else if scalar.value > 0xFFFF {
                    let v = scalar.value - 0x10000
                    appendEscape(0xD800 + (v >> 10), to: &out)
                    appendEscape(0xDC00 + (v & 0x3FF), to: &out)
                } else {
                    appendEscape(scalar.value, to: &out)
                }
            }
        }
        out += "\""
    }

    private static func appendEscape(_ unit: UInt32, to out: inout String) {
        out += "\\u"
        for shift in stride(from: 12, through: 0, by: -4) {
            out.append(hexDigits[Int((unit >> UInt32(shift)) & 0xF)])
        }
    }

    /// Python's `repr(float)`: the shortest round-trip digits (Swift computes the same ones), fixed
    /// notation for decimal exponents in [-4, 16), otherwise `d.ddde+XX`.
    static func pythonRepr(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
        if d == 0 { return d.sign == .minus ? "-0.0" : "0.0" }
        // Split Swift's shortest representation into sign, digits and a decimal exponent.
        var text = Substring(d.description)
        let negative = text.hasPrefix("-")
        if negative { text = text.dropFirst() }
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: e)...]) ?? 0
            text = text[..<e]
        }
        var digits = ""
        var pointPosition = text.count
        for (i, c) in text.enumerated() {
            if c == "." { pointPosition = i } else { digits.append(c) }
        }
        // Value = 0.digits * 10^(pointPosition + exponent); strip leading zeros, then trailing ones.
        var decimalPoint = pointPosition + exponent
        while digits.hasPrefix("0") && digits.count > 1 {
            digits.removeFirst()
            decimalPoint -= 1
        }
        while digits.hasSuffix("0") && digits.count > 1 { digits.removeLast() }
        let exp10 = decimalPoint - 1
        var result = negative ? "-" : ""
        if exp10 >= -4 && exp10 < 16 {
            if decimalPoint <= 0 {
                result += "0." + String(repeating: "0", count: -decimalPoint) + digits
            } else if decimalPoint >= digits.count {
                result += digits + String(repeating: "0", count: decimalPoint - digits.count) + ".0"
            } else {
                let split = digits.index(digits.startIndex, offsetBy: decimalPoint)
                result += digits[..<split] + "." + digits[split...]
            }
        } else {
            result += String(digits.first ?? "0")
            if digits.count > 1 { result += "." + digits.dropFirst() }
            let magnitude = abs(exp10)
            result += (exp10 < 0 ? "e-" : "e+") + (magnitude < 10 ? "0" : "") + String(magnitude)
        }
        return result
    }
}

// MARK: - Parsing

extension JSONValue {
    /// Parses JSON text; `what` names the source in the error (a file, a sample's column).
    public static func parse(_ bytes: some Collection<UInt8>, what: String) throws(ShardError) -> JSONValue {
        var parser = JSONParser(bytes: Array(bytes), what: what)
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.position == parser.bytes.count else { throw parser.error("trailing characters") }
        return value
    }
}

private struct JSONParser {
    let bytes: [UInt8]
    let what: String
    var position = 0

    init(bytes: [UInt8], what: String) {
        self.bytes = bytes
        self.what = what
    }

    func error(_ reason: String) -> ShardError {
        ShardError(.damaged, path: what, "invalid JSON at byte \(position): \(reason)")
    }

    mutating func skipWhitespace() {
        while position < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[position]) { position += 1 }
    }

    mutating func expect(_ literal: String) throws(ShardError) {
        for byte in literal.utf8 {
            guard position < bytes.count, bytes[position] == byte else { throw error("expected \(literal)") }
            position += 1
        }
    }

    mutating func parseValue(depth: Int) throws(ShardError) -> JSONValue {
        guard depth < 512 else { throw error("nesting deeper than 512") }
        skipWhitespace()
        guard position < bytes.count else { throw error("unexpected end") }
        switch bytes[position] {
        case UInt8(ascii: "n"): try expect("null"); return .null
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "N"): try expect("NaN"); return .double(.nan)
        case UInt8(ascii: "I"): try expect("Infinity"); return .double(.infinity)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "["):
            position += 1
            var items: [JSONValue] = []
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "]") { position += 1; return .array(items) }
            while true {
                items.append(try parseValue(depth: depth + 1))
                skipWhitespace()
                guard position < bytes.count else { throw error("unterminated array") }
                if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                if bytes[position] == UInt8(ascii: "]") { position += 1; return .array(items) }
                throw error("expected , or ]")
            }
        case UInt8(ascii: "{"):
            position += 1
            var pairs: [(String, JSONValue)] = []
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "}") { position += 1; return .object(pairs) }
            while true {
                skipWhitespace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw error("expected a key") }
                let key = try parseString()
                skipWhitespace()
                try expect(":")
                pairs.append((key, try parseValue(depth: depth + 1)))
                skipWhitespace()
                guard position < bytes.count else { throw error("unterminated object") }
                if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                if bytes[position] == UInt8(ascii: "}") { position += 1; return .object(pairs) }
                throw error("expected , or }")
            }
        default:
            return try parseNumber()
        }
    }

    mutating func parseNumber() throws(ShardError) -> JSONValue {
        let start = position
        var isFloat = false
        if position < bytes.count, bytes[position] == UInt8(ascii: "-") {
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "I") {
                try expect("Infinity")
                return .double(-.infinity)
            }
        }
        while position < bytes.count {
            let c = bytes[position]
            if c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") {
                position += 1
            } else if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E")
                || c == UInt8(ascii: "+") || c == UInt8(ascii: "-") {
                isFloat = true
                position += 1
            } else {
                break
            }
        }
        guard position > start, let text = String(bytes: bytes[start..<position], encoding: .utf8) else {
            throw error("unexpected character")
        }
        if !isFloat, let i = Int64(text) { return .int(i) }
        if !isFloat, let u = UInt64(text) { return .uint(u) }
        guard let d = Double(text) else { throw error("bad number \(text)") }
        return .double(d)
    }

    mutating func parseString() throws(ShardError) -> String {
        position += 1  // opening quote
        var scalars = String.UnicodeScalarView()
        var run = position
        func flush(_ end: Int) throws(ShardError) {
            guard end > run else { return }
            guard let s = String(bytes: bytes[run..<end], encoding: .utf8) else { throw error("invalid UTF-8") }
            scalars.append(contentsOf: s.unicodeScalars)
        }
        while position < bytes.count {
            let c = bytes[position]
            if c == UInt8(ascii: "\"") {
                try flush(position)
                position += 1
                return String(scalars)
            }
            if c == UInt8(ascii: "\\") {
                try flush(position)
                position += 1
                guard position < bytes.count else { break }
                let e = bytes[position]
                position += 1
                switch e {
                case UInt8(ascii: "n"): scalars.append("\n")
                case UInt8(ascii: "r"): scalars.append("\r")
                case UInt8(ascii: "t"): scalars.append("\t")
                case UInt8(ascii: "b"): scalars.append("\u{08}")
                case UInt8(ascii: "f"): scalars.append("\u{0C}")
                case UInt8(ascii: "/"): scalars.append("/")
                case UInt8(ascii: "\\"): scalars.append("\\")
                case UInt8(ascii: "\""): scalars.append("\"")
                case UInt8(ascii: "u"):
                    var unit = try parseHex4()
                    if unit >= 0xD800 && unit < 0xDC00, position + 1 < bytes.count,
                       bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") {
                        position += 2
                        let low = try parseHex4()
                        guard low >= 0xDC00 && low < 0xE000 else {
                            throw error("\\u\(String(unit, radix: 16)) is not followed by a low surrogate (\\u\(String(low, radix: 16)))")
                        }
                        unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(unit) else {
                        throw error("\\u\(String(unit, radix: 16)) is a lone surrogate, which a string cannot hold")
                    }
                    scalars.append(scalar)
                default: throw error("bad escape")
                }
                run = position
                continue
            }
            position += 1
        }
        throw error("unterminated string")
    }

    mutating func parseHex4() throws(ShardError) -> UInt32 {
        guard position + 4 <= bytes.count,
              let text = String(bytes: bytes[position..<position + 4], encoding: .ascii),
              let value = UInt32(text, radix: 16) else { throw error("bad \\u escape") }
        position += 4
        return value
    }
}
