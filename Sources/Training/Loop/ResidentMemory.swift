import Foundation

/// The process's resident memory, which every training record carries (`resident_mb`), so a run
/// shows that its memory stays flat however large the data set it streams.
enum ResidentMemory {
    /// Bytes resident now (Linux `/proc/self/statm`); nil where that file is not readable.
    static func bytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * sysconf(Int32(_SC_PAGESIZE))
    }
}
