import Foundation
import PipelineCore
import SystemErrors

/// Where sinks write. They replace only files and refuse anything else, so a run never deletes
/// what it did not create; every failure names the path and the reason, not an NSError dump.
enum OutputPaths {
    /// Fails unless `url` is absent or a file a sink may replace (a regular file, or a symlink,
    /// which is replaced and not followed). `what` says what the sink writes there.
    static func checkReplaceable(_ url: URL, what: String) throws(StageError) {
        var info = stat()
        guard lstat(url.path, &info) == 0 else { return }
        switch info.st_mode & S_IFMT {
        case S_IFREG, S_IFLNK: return
        case S_IFDIR:
            throw StageError(.outputTaken, path: url.relativePath,
                             reason: "is a directory; this sink writes \(what) there and replaces only files (name a file instead)")
        default:
            throw StageError(.outputTaken, path: url.relativePath,
                             reason: "is not a regular file (a FIFO, socket or device); this sink writes \(what) there and replaces only files")
        }
    }

    /// Why `url` cannot be made a directory as things stand: it, or a parent of it, is a file.
    /// nil when every part of it that exists is a directory.
    static func blocked(_ url: URL) -> StageError? {
        var path = url.path.hasPrefix("/") ? "" : "."
        for component in url.path.split(separator: "/") {
            path += "/" + component
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            if info.st_mode & S_IFMT != S_IFDIR {
                let blocker = path == url.path ? "it is a file" : "\(path) is a file"
                return StageError(.outputTaken, path: url.relativePath, reason: "cannot create the output directory: \(blocker)")
            }
        }
        return nil
    }

    /// Creates `url` and its missing parents; names the component that is in the way.
    static func createDirectory(_ url: URL) throws(StageError) {
        if let blocked = blocked(url) { throw blocked }
        var path = url.path.hasPrefix("/") ? "" : "."
        for component in url.path.split(separator: "/") {
            path += "/" + component
            var info = stat()
            if stat(path, &info) == 0 { continue }
            guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
                let blocker = path == url.path ? "" : " \(path)"
                throw StageError(.outputFailed, path: url.relativePath,
                                 reason: "cannot create the output directory\(blocker): \(SystemErrorText.words(errno: errno))")
            }
        }
    }

    /// Moves `partial` over `url` with rename(2), which replaces a file atomically and refuses a directory.
    static func commit(_ partial: URL, to url: URL) throws(StageError) {
        guard rename(partial.path, url.path) == 0 else {
            throw StageError(.outputFailed, path: url.relativePath,
                             reason: "cannot move \(partial.lastPathComponent) into place: \(SystemErrorText.words(errno: errno))")
        }
    }

    /// Removes the file a previous run left at `url`, if any; anything but a file is refused.
    static func removeFile(_ url: URL, what: String) throws(StageError) {
        try checkReplaceable(url, what: what)
        // Nothing to remove; unlink would still fail on a read-only file system, naming the wrong problem.
        var info = stat()
        guard lstat(url.path, &info) == 0 else { return }
        guard unlink(url.path) == 0 || errno == ENOENT else {
            throw StageError(.outputFailed, path: url.relativePath, reason: "cannot remove the previous run's file: \(SystemErrorText.words(errno: errno))")
        }
    }
}
