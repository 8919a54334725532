import Foundation

/// Expands input patterns the way pipeline files write them: a file, a directory (every file
/// below it), a glob (`*.mp4`, `clip-??.wav`), or `**` for any depth. Results are sorted so
/// runs are reproducible.
enum FileGlob {
    static func expand(_ pattern: String) -> [URL] {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: pattern, isDirectory: &isDirectory) {
            return isDirectory.boolValue ? filesBelow(pattern) : [URL(fileURLWithPath: pattern)]
        }
        guard pattern.contains(where: { "*?[".contains($0) }) else { return [] }
        if pattern.contains("**") { return recursiveMatch(pattern) }
        var result = glob_t()
        defer { globfree(&result) }
        guard glob(pattern, 0, nil, &result) == 0 else { return [] }
        return (0..<Int(result.gl_pathc)).compactMap { index in
            result.gl_pathv[index].map { String(cString: $0) }
        }
        .filter { !isDirectoryPath($0) }
        .sorted()
        .map { URL(fileURLWithPath: $0) }
    }

    /// `base/**/rest`: walk `base` and match each relative path; `**/` also matches no folder.
    private static func recursiveMatch(_ pattern: String) -> [URL] {
        let components = pattern.split(separator: "/", omittingEmptySubsequences: false)
        let fixed = components.prefix { !$0.contains(where: { "*?[".contains($0) }) }
        let base = fixed.isEmpty ? "." : fixed.joined(separator: "/")
        let flattened = pattern.replacingOccurrences(of: "**/", with: "*").replacingOccurrences(of: "**", with: "*")
        return filesBelow(base).filter { url in
            let path = base == "." ? String(url.relativePath.dropFirst(2)) : url.relativePath
            return fnmatch(flattened, path, 0) == 0
        }
    }

    private static func filesBelow(_ directory: String) -> [URL] {
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return [] }
        var files: [String] = []
        while let relative = walker.nextObject() as? String {
            let path = directory == "." ? "./" + relative : (directory as NSString).appendingPathComponent(relative)
            if !isDirectoryPath(path) { files.append(path) }
        }
        return files.sorted().map { URL(fileURLWithPath: $0) }
    }

    private static func isDirectoryPath(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }
}
