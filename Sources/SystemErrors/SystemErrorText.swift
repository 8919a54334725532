import Foundation

/// Plain words for what the system said when a file operation failed ("the disk is full
/// (ENOSPC)"), for every reader and writer of files (shards, .npy, JSON lines, run records,
/// checkpoints, vocabularies, models): Foundation's own description is a dump (`Error
/// Domain=NSCocoaErrorDomain Code=640 ...`) or a sentence without the cause ("The operation could
/// not be completed"), and strerror's text does not say which errno to look up. Callers name the
/// file and the operation; these give the reason. A module of its own, depending on nothing, so
/// Text and Tensor, which stand apart from the engine (PipelineCore), can use it too.
public enum SystemErrorText {
    /// The reason for `code` in words, with the errno's name to search for.
    public static func words(errno code: Int32) -> String {
        switch code {
        case ENOSPC: "the disk is full (ENOSPC)"
        case EDQUOT: "the disk quota is used up (EDQUOT)"
        case EIO: "the device reported an input/output error (EIO)"
        case EACCES: "permission denied (EACCES)"
        case EPERM: "the operation is not permitted (EPERM)"
        case EROFS: "the file system is read-only (EROFS)"
        case EMFILE: "this process has too many files open (EMFILE)"
        case ENFILE: "the system has too many files open (ENFILE)"
        case ENOENT: "no such file or directory (ENOENT)"
        case ENOTDIR: "a component of the path is not a directory (ENOTDIR)"
        case EISDIR: "it is a directory (EISDIR)"
        case EEXIST: "it already exists (EEXIST)"
        case ENAMETOOLONG: "the name is too long (ENAMETOOLONG)"
        case EFBIG: "the file would be larger than the file system allows (EFBIG)"
        case ENOMEM: "out of memory (ENOMEM)"
        default: "\(String(cString: strerror(code))) (errno \(code))"
        }
    }

    /// The reason `error` gives, in words: those of its errno when it carries one (a POSIXError,
    /// or a Foundation error wrapping one, as `Data.write(to:)` and `FileHandle` throw); text that
    /// is not UTF-8 (the one encoding sluice reads text in; `String(contentsOf:encoding:)` says
    /// "corrupt file" or "inapplicable encoding" for it); else a Foundation error's detail (where
    /// JSON breaks: "Unexpected end of file during JSON parse."), not its sentence that names no
    /// cause ("The operation could not be completed"); else the error's own description.
    public static func words(_ error: any Error) -> String {
        if let code = errno(of: error) { return words(errno: code) }
        let bridged = error as NSError
        guard bridged.domain == NSCocoaErrorDomain || bridged.domain == NSPOSIXErrorDomain else { return String(describing: error) }
        if [.fileReadCorruptFile, .fileReadInapplicableStringEncoding].contains(CocoaError.Code(rawValue: bridged.code)) {
            return "it is not valid UTF-8 text"
        }
        return bridged.userInfo[NSDebugDescriptionErrorKey] as? String ?? bridged.localizedDescription
    }

    /// A Foundation or POSIX error (what `Data.write(to:)`, `FileHandle` and `FileManager` throw) as
    /// "FILE: reason", the file taken from the error when it names one; nil for other errors.
    public static func fileError(_ error: any Error) -> String? {
        guard isSystemError(error) else { return nil }
        return (file(of: error).map { "\($0): " } ?? "") + words(error)
    }

    /// Whether `error` is a Foundation or POSIX error (what `Data.write(to:)`, `FileHandle` and
    /// `FileManager` throw), the kind `fileError` and `file(of:)` read.
    public static func isSystemError(_ error: any Error) -> Bool {
        let domain = (error as NSError).domain
        return domain == NSCocoaErrorDomain || domain == NSPOSIXErrorDomain
    }

    /// The file a Foundation error names, if it names one.
    public static func file(of error: any Error) -> String? {
        let bridged = error as NSError
        return bridged.userInfo[NSFilePathErrorKey] as? String ?? (bridged.userInfo[NSURLErrorKey] as? URL)?.path
    }

    /// The errno behind `error`, if it has one: its own code in the POSIX domain, that of the
    /// error it wraps, or the one a Foundation file-writing code stands for.
    public static func errno(of error: any Error) -> Int32? {
        if let posix = error as? POSIXError { return posix.code.rawValue }
        let bridged = error as NSError
        if bridged.domain == NSPOSIXErrorDomain { return Int32(bridged.code) }
        if let underlying = bridged.userInfo[NSUnderlyingErrorKey] as? any Error, let code = errno(of: underlying) { return code }
        guard bridged.domain == NSCocoaErrorDomain else { return nil }
        switch CocoaError.Code(rawValue: bridged.code) {
        case .fileWriteOutOfSpace: return ENOSPC
        case .fileWriteVolumeReadOnly: return EROFS
        case .fileWriteNoPermission, .fileReadNoPermission: return EACCES
        case .fileNoSuchFile, .fileReadNoSuchFile: return ENOENT
        default: return nil
        }
    }
}
