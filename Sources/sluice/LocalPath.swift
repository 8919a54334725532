import ArgumentParser
import ObjectStore

/// Every option and argument that names a local file or directory is read through `localPath`
/// (`@Option(transform: localPath)`), so a URL is refused by name, as a usage error, before
/// anything runs. Without it `--out s3://b/r` trained into a local directory `./s3:/b/r` and
/// `--in s3://...` failed later with ENOENT. On the command line only `sluice shards` takes buckets.
func localPath(_ text: String) throws -> String {
    guard let scheme = ObjectURL.urlScheme(text) else { return text }
    throw ValidationError("this option takes a local path, not a URL (it would be read as a directory named '\(scheme):'); "
                          + "s3:// is taken only by pipeline files' sources and sinks and by `sluice shards` (see README, \"Object storage\")")
}

/// `sluice shards merge`'s parts: names under its DIRECTORY (a directory or a bucket prefix), never URLs of their own.
func partName(_ text: String) throws -> String {
    guard ObjectURL.urlScheme(text) != nil else { return text }
    throw ValidationError("a part is named relative to DIRECTORY (part-0), not as a URL")
}
