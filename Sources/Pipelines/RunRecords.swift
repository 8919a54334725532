import Foundation
import ObjectStore

/// Where a run leaves its records, the manifest and the quarantine file: local files (by default
/// `OUT/manifest.json` and `OUT/quarantine.jsonl`) or objects in a bucket
/// (`options: {manifest: "s3://bucket/runs/a/manifest.json", quarantine: "s3://..."}`).
///
/// A record bound for a bucket is written locally first, to `OUT/.cache/s3-upload/BUCKET/KEY.partial`,
/// and uploaded when the run ends, whatever its completion: the quarantine first, then the manifest
/// that names it; the local copy then loses its `.partial`. The quarantine goes up whole at the end,
/// not in pieces while the run goes on: an object cannot be appended to, so pieces would mean
/// uploading the growing file again and again, or a multipart upload whose parts (5 MiB at least)
/// stay invisible until it completes. Meanwhile each record is synced to the local file as it is
/// written, so a killed run loses none. An object quarantine is uploaded even when empty, so an
/// earlier run's records in the bucket never pass for this run's.
public struct RunRecords: Sendable {
    public enum Place: Sendable, CustomStringConvertible {
        case file(URL)
        case object(ObjectURL)

        public var description: String {
            switch self {
            case .file(let url): url.relativePath
            case .object(let object): object.description
            }
        }
    }

    public var manifest: Place
    public var quarantine: Place
    /// Where records bound for a bucket are staged.
    let staging: URL

    public init(outputDirectory: URL, manifest: Place? = nil, quarantine: Place? = nil) {
        self.manifest = manifest ?? .file(outputDirectory.appendingPathComponent("manifest.json"))
        self.quarantine = quarantine ?? .file(outputDirectory.appendingPathComponent("quarantine.jsonl"))
        staging = outputDirectory.appendingPathComponent(".cache/s3-upload")
    }

    /// The local file the run writes `place`'s record to.
    public func localFile(_ place: Place) -> URL {
        switch place {
        case .file(let url): url
        case .object(let object):
            staging.appendingPathComponent(object.bucket).appendingPathComponent(object.key + ".partial")
        }
    }

    /// The local copy of `place`'s record once the run is over: the file itself, or the copy uploaded.
    public func keptFile(_ place: Place) -> URL {
        if case .object = place { return localFile(place).deletingPathExtension() }
        return localFile(place)
    }

    /// Clears what an earlier run left where this one records (files only, never a directory) and
    /// creates the records' directories. A local manifest is replaced atomically at the end instead.
    /// A run that resumes another (`resuming`) keeps that run's quarantine records, renamed to the
    /// first free `quarantine.N.jsonl` beside them, since its source does not read those items again.
    func prepare(resuming: Bool = false) throws(StageError) {
        let records = localFile(quarantine)
        if resuming, let size = InputFile(path: records.path)?.bytes, size > 0 {
            let numbered = { (number: Int) in records.deletingPathExtension().appendingPathExtension("\(number).jsonl") }
            let kept = numbered((1...).first { !FileManager.default.fileExists(atPath: numbered($0).path) } ?? 1)
            try OutputPaths.commit(records, to: kept)
            FileHandle.standardError.write(Data("the resumed run's quarantine records are kept as \(kept.relativePath)\n".utf8))
        }
        try OutputPaths.removeFile(records, what: "the quarantine records")
        if case .object = manifest { try OutputPaths.removeFile(localFile(manifest), what: "the run manifest") }
        for place in [quarantine, manifest] { try OutputPaths.createDirectory(localFile(place).deletingLastPathComponent()) }
    }

    /// Uploads the records bound for a bucket, quarantine first; a failure names the object, the
    /// HTTP status and the local file the record stays in.
    func publish() throws(StageError) {
        let uploads = [(quarantine, "quarantine records"), (manifest, "run manifest")].compactMap { place, what in
            if case .object(let object) = place { (object, place, localFile(place), what) } else { nil }
        }
        guard let first = uploads.first else { return }
        let client: S3Client
        do {
            client = try S3Client()
        } catch {
            throw StageError(.outputFailed, path: first.0.description, reason: "cannot upload the \(first.3): \(error)")
        }
        for (object, place, file, what) in uploads {
            // An empty quarantine leaves no local file; its object is uploaded empty all the same.
            if !FileManager.default.fileExists(atPath: file.path) && !FileManager.default.createFile(atPath: file.path, contents: nil) {
                throw StageError(.outputFailed, path: file.relativePath, reason: "cannot create the \(what) file")
            }
            do {
                try client.upload(file: file, to: object)
            } catch {
                throw StageError(.outputFailed, path: object.description,
                                 reason: "cannot upload the \(what) (kept at \(file.relativePath)): \(error)")
            }
            try OutputPaths.commit(file, to: keptFile(place))
        }
    }
}
