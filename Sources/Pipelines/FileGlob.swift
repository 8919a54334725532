import Foundation
import SystemErrors

/// What an `inputs` parameter found: the files to read, and the entries of its directories and
/// globs that cannot be inputs, which the source quarantines rather than dropping without a word.
public struct InputPaths: Sendable, Equatable {
    public var files: [URL] = []
    public var unusable: [UnusableInput] = []
}

/// An entry a directory or glob turned up that cannot be read as an input, and why. One kind
/// only (the entry cannot be read), so it has no `code`.
public struct UnusableInput: CodedError, Equatable {
    /// The path as text; bytes of the name that are not UTF-8 appear as `\xHH`.
    public var path: String
    public var reason: String
    /// The path's bytes, for matching `**` patterns against names that are not UTF-8.
    let bytes: [UInt8]
    /// A directory that could not be listed: kept whatever pattern is matched below it.
    let isDirectory: Bool

    init(bytes: [UInt8], reason: String, isDirectory: Bool = false) {
        self.bytes = bytes
        path = Self.text(bytes)
        self.reason = reason
        self.isDirectory = isDirectory
    }

    init(path: String, reason: String, isDirectory: Bool = false) {
        self.init(bytes: Array(path.utf8), reason: reason, isDirectory: isDirectory)
    }

    public var failure: Failure { .io }

    public var description: String { "\(path): \(reason)" }

    /// `bytes` as text: UTF-8 as it is, each byte that is not part of valid UTF-8 as `\xHH`.
    static func text(_ bytes: [UInt8]) -> String {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var (text, offset) = ("", 0)
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded):
                text.unicodeScalars.append(Unicode.UTF8.decode(encoded))
                offset += encoded.count
            case .error(let length):
                text += bytes[offset..<offset + length].map { String(format: "\\x%02X", $0) }.joined()
                offset += length
            case .emptyInput:
                return text
            }
        }
    }
}

/// Expands input patterns the way pipeline files write them: a file, a directory (every file
/// below it), a glob (`*.mp4`, `clip-??.wav`), or `**` for any depth. Results are sorted so
/// runs are reproducible. Directories and globs yield regular files and links to them only, as
/// `find -L -type f` does (links to directories are followed, a loop is not): a FIFO, device or
/// socket among them would block or never end when read. Entries that cannot be inputs are
/// returned as `unusable` with the reason: a name that is not UTF-8 (the samples' `path`, the
/// manifest and JSON hold text, and a repaired name would open another file or none), a symbolic
/// link loop or a link to nothing, a directory that cannot be listed, an entry that cannot be
/// looked at or vanished while it was listed. A path named on its own is kept whatever it is, so
/// the stage that reads it can say why it cannot.
enum FileGlob {
    static func expand(_ pattern: String) -> InputPaths {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: pattern, isDirectory: &isDirectory) {
            return isDirectory.boolValue ? filesBelow(pattern) : InputPaths(files: [URL(fileURLWithPath: pattern)])
        }
        guard pattern.contains(where: { "*?[".contains($0) }) else { return InputPaths() }
        if pattern.contains("**") { return recursiveMatch(pattern) }
        var result = glob_t()
        defer { globfree(&result) }
        guard glob(pattern, 0, nil, &result) == 0 else { return InputPaths() }
        var found = Found()
        for index in 0..<Int(result.gl_pathc) {
            guard let path = result.gl_pathv[index] else { continue }
            found.add(Array(UnsafeBufferPointer(start: path, count: strlen(path)).map { UInt8(bitPattern: $0) }),
                      descending: false)
        }
        return found.sorted
    }

    /// `base/**/rest`: walk `base` and match each relative path; `**/` also matches no folder.
    private static func recursiveMatch(_ pattern: String) -> InputPaths {
        let components = pattern.split(separator: "/", omittingEmptySubsequences: false)
        let fixed = components.prefix { !$0.contains(where: { "*?[".contains($0) }) }
        let base = fixed.isEmpty ? "." : fixed.joined(separator: "/")
        let flattened = pattern.replacingOccurrences(of: "**/", with: "*").replacingOccurrences(of: "**", with: "*")
        func matches(_ path: [UInt8]) -> Bool {
            let relative = base == "." ? Array(path.dropFirst(2)) : path
            return (relative.map { CChar(bitPattern: $0) } + [0]).withUnsafeBufferPointer { fnmatch(flattened, $0.baseAddress, 0) == 0 }
        }
        let below = filesBelow(base)
        return InputPaths(files: below.files.filter { matches(Array($0.relativePath.utf8)) },
                          unusable: below.unusable.filter { $0.isDirectory || matches($0.bytes) })
    }

    private static func filesBelow(_ directory: String) -> InputPaths {
        var found = Found()
        found.walk(directory)
        return found.sorted
    }

    /// Files and unusable entries collected while walking directories and glob matches.
    private struct Found {
        var files: [String] = []
        var unusable: [UnusableInput] = []
        /// Device and inode of the directories being walked, so a link back to one is a loop, not a descent.
        var ancestors: [(dev_t, ino_t)] = []

        var sorted: InputPaths {
            InputPaths(files: files.sorted().map { URL(fileURLWithPath: $0) },
                       unusable: unusable.sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) })
        }

        /// Lists `directory` with readdir, which gives every name as the bytes it is.
        mutating func walk(_ directory: String) {
            var info = stat()
            guard stat(directory, &info) == 0, let stream = opendir(directory) else {
                unusable.append(UnusableInput(path: directory, reason: "cannot list the directory: \(String(cString: strerror(errno)))",
                                              isDirectory: true))
                return
            }
            defer { closedir(stream) }
            ancestors.append((info.st_dev, info.st_ino))
            defer { ancestors.removeLast() }
            var names: [[UInt8]] = []
            while let entry = readdir(stream) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
                if name != Array(".".utf8) && name != Array("..".utf8) { names.append(name) }
            }
            let prefix = Array((directory == "." ? "./" : directory.hasSuffix("/") ? directory : directory + "/").utf8)
            for name in names { add(prefix + name, descending: true) }
        }

        /// Sorts one entry into files (regular ones), the walk (directories, when `descending`) or
        /// `unusable`; FIFOs, devices and sockets are left out.
        mutating func add(_ path: [UInt8], descending: Bool) {
            guard let text = String(validating: path, as: UTF8.self) else {
                unusable.append(UnusableInput(bytes: path, reason: "the name is not valid UTF-8 (shown with \\xHH for those bytes); "
                                              + "rename it to read it"))
                return
            }
            let file: InputFile
            do { file = try InputFile(looking: text) } catch {
                unusable.append(error)
                return
            }
            if file.isRegular {
                files.append(text)
            } else if file.isDirectory && descending {
                if ancestors.contains(where: { $0 == file.device && $1 == file.inode }) {
                    unusable.append(UnusableInput(path: text, reason: "is a symbolic link loop: it leads back to a directory that contains it"))
                } else {
                    walk(text)
                }
            }
        }
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
    let device: dev_t
    let inode: ino_t

    var isRegular: Bool { irregularKind == nil }
    var isDirectory: Bool { irregularKind == Self.directory }
    private static let directory = "a directory"

    /// nil when the path (or a link's target) does not exist or cannot be looked at.
    init?(path: String) {
        guard let file = try? InputFile(looking: path) else { return nil }
        self = file
    }

    /// Fails, saying why in words, when the path (or a link's target) does not exist or cannot be looked at.
    init(looking path: String) throws(UnusableInput) {
        var status = stat()
        guard stat(path, &status) == 0 else {
            let code = errno
            var link = stat()
            let isLink = lstat(path, &link) == 0 && link.st_mode & S_IFMT == S_IFLNK
            let reason = switch code {
            case ELOOP: "is a symbolic link loop"
            case ENOENT where isLink: "is a symbolic link to a file that does not exist"
            case ENOENT: "is missing (it vanished after it was listed)"
            default: "cannot be looked at: \(String(cString: strerror(code)))"
            }
            throw UnusableInput(path: path, reason: reason)
        }
        bytes = Int(status.st_size)
        modified = Date(timeIntervalSince1970: Double(status.st_mtim.tv_sec) + Double(status.st_mtim.tv_nsec) / 1e9)
        (device, inode) = (status.st_dev, status.st_ino)
        irregularKind = switch status.st_mode & S_IFMT {
        case S_IFREG: nil
        case S_IFDIR: Self.directory
        case S_IFIFO: "a named pipe (FIFO)"
        case S_IFCHR, S_IFBLK: "a device"
        default: "a socket or other special file"
        }
    }
}
