import Foundation

/// The few fields of S3's XML answers we read (error codes, upload ids, listings). S3's XML is
/// flat and regular, so plain tag matching suffices and needs no XML library.
enum XMLFields {
    /// The text of every `<tag>…</tag>` in `text`, entities decoded.
    static func values(_ tag: String, in text: Substring) -> [String] {
        elements(tag, in: text).map { decode($0) }
    }

    static func first(_ tag: String, in text: Substring) -> String? { values(tag, in: text).first }

    /// The raw contents of every `<tag>…</tag>` (for nested blocks such as `<Contents>`).
    static func elements(_ tag: String, in text: Substring) -> [Substring] {
        let open = "<\(tag)>"
        let close = "</\(tag)>"
        var found: [Substring] = []
        var rest = text[...]
        while let start = rest.range(of: open), let end = rest[start.upperBound...].range(of: close) {
            found.append(rest[start.upperBound..<end.lowerBound])
            rest = rest[end.upperBound...]
        }
        return found
    }

    static func decode(_ text: Substring) -> String {
        guard text.contains("&") else { return String(text) }
        return text.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&#34;", with: "\"").replacingOccurrences(of: "&amp;", with: "&")
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
