import Foundation

/// Input lists as WebDataset users write them: `shards-{000000..000099}.tar` (a numeric range,
/// zero-padded to the width of its bounds when either has a leading zero), `{train,val}`, nested,
/// as the `braceexpand` package the webdataset package uses expands them. Every `inputs`
/// parameter expands them before globbing, for files and URLs alike.
enum BracePattern {
    /// Why a pattern cannot be expanded.
    struct Problem: Error { var reason: String }

    /// The most names one pattern may expand to, so a typo such as `{0..999999999}` is an error
    /// rather than a run out of memory.
    static let maximumNames = 1_000_000

    static func expand(_ pattern: String) throws(Problem) -> [String] {
        var names: [String] = []
        try expand(Substring(pattern), prefix: "", into: &names, pattern: pattern)
        return names
    }

    private static func expand(_ text: Substring, prefix: String, into names: inout [String], pattern: String) throws(Problem) {
        guard let open = text.firstIndex(of: "{") else {
            guard names.count < maximumNames else {
                throw Problem(reason: "expands to more than \(maximumNames) names")
            }
            names.append(prefix + text)
            return
        }
        // The matching close brace, and the top-level commas between.
        var depth = 0, commas: [Substring.Index] = [], close: Substring.Index?
        for index in text[open...].indices {
            switch text[index] {
            case "{": depth += 1
            case "}":
                depth -= 1
                if depth == 0 { close = index }
            case "," where depth == 1: commas.append(index)
            default: break
            }
            if close != nil { break }
        }
        guard let close else { throw Problem(reason: "a `{` has no matching `}`") }
        let head = prefix + text[..<open], body = text[text.index(after: open)..<close], tail = text[text.index(after: close)...]
        var alternatives: [String] = []
        if commas.isEmpty {
            guard let range = try numericRange(body, pattern: pattern) else {
                // `{x}` with neither commas nor a range stays as written, as in the shell.
                return try expand(tail, prefix: head + "{" + body + "}", into: &names, pattern: pattern)
            }
            alternatives = range
        } else {
            var start = body.startIndex
            for comma in commas + [close] {
                alternatives.append(String(text[start..<comma]))
                start = text.index(after: comma)
            }
        }
        for alternative in alternatives {
            // An alternative may hold braces of its own; they expand before the tail.
            var inner: [String] = []
            try expand(Substring(alternative), prefix: head, into: &inner, pattern: pattern)
            for expanded in inner { try expand(tail, prefix: expanded, into: &names, pattern: pattern) }
        }
    }

    /// `000..099` (or `5..1`, counting down), or nil if `body` is not a numeric range.
    private static func numericRange(_ body: Substring, pattern: String) throws(Problem) -> [String]? {
        let parts = body.components(separatedBy: "..")
        guard parts.count == 2, let first = Int(parts[0]), let last = Int(parts[1]), first >= 0, last >= 0 else { return nil }
        let count = first <= last ? last - first : first - last
        guard count < maximumNames else {
            throw Problem(reason: "the range {\(body)} holds more than \(maximumNames) names")
        }
        let padded = parts.contains { $0.count > 1 && $0.hasPrefix("0") }
        let width = padded ? max(parts[0].count, parts[1].count) : 0
        let numbers = first <= last ? Array(first...last) : Array((last...first).reversed())
        return numbers.map { number in
            let digits = String(number)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
    }
}
