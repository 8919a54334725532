import Foundation

/// Expands input patterns the way pipeline files write them: a file, a directory (every file
/// below it), a glob (`*.mp4`, `clip-??.wav`), or `**` for any depth. Results are sorted so
/// runs are reproducible. Directories and globs yield regular files and links to them only, as
/// `find -L -type f` does: a FIFO, device or socket among them would block or never end when read.
/// A path named on its own is kept whatever it is, so the stage that reads it can say why it cannot.
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
        .filter { InputFile(path: $0)?.isRegular == true }
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
            if InputFile(path: path)?.isRegular == true { files.append(path) }
        }
        return files.sorted().map { URL(fileURLWithPath: $0) }
    }
}

/// What `stat` says of an input path, following symbolic links, so a link is recorded with the size
/// and time of the file it names (FileManager's attributes describe the link itself).
struct InputFile {
    /// Bytes of the file (of the target, for a link).
    let bytes: Int
    /// Last modification of the file.
    let modified: Date
    /// nil for a regular file, else what it is instead ("a named pipe (FIFO)", ...).
    let irregularKind: String?

    var isRegular: Bool { irregularKind == nil }

    /// nil when the path (or a link's target) does not exist or cannot be looked at.
    init?(path: String) {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        bytes = Int(status.st_size)
        modified = Date(timeIntervalSince1970: Double(status.st_mtim.tv_sec) + Double(status.st_mtim.tv_nsec) / 1e9)
        irregularKind = switch status.st_mode & S_IFMT {
        case S_IFREG: nil
        case S_IFDIR: "a directory"
        case S_IFIFO: "a named pipe (FIFO)"
        case S_IFCHR, S_IFBLK: "a device"
        default: "a socket or other special file"
        }
    }
}
