import Foundation
import Testing

/// Options and arguments that name files meet `s3://` URLs on the command line: each refuses the
/// URL by name, as a usage error (exit 64), before anything runs, or is one of the few documented
/// to take buckets. None may take it as a local path: `retromae train --out s3://b/r` once
/// trained into a local directory `./s3:/b/r` and exited 0.
extension CommandLineTests {
    static let url = "s3://x/y"

    /// The arguments that take buckets: the dataset of `sluice shards` (their help says so).
    static let takingURLs: Set = ["shards inspect <directory>", "shards verify <directory>", "shards cat <directory>",
                                  "shards merge <directory>"]

    /// One argument of a command, as `--experimental-dump-help` describes it.
    struct Argument {
        var command: [String]
        var name: String?
        var positional: Bool
        var valueName: String
        var optional: Bool
        var help: String

        /// How usage messages write it: `--out <dir>`, `<file>`.
        var synopsis: String { (name.map { "--\($0) " } ?? "") + "<\(valueName)>" }
        var label: String { (command + [synopsis]).joined(separator: " ") }

        /// Declared with a path's value name, or described as a file or directory.
        var namesFiles: Bool {
            ["file", "dir", "directory", "path", "parts"].contains(valueName)
                || help.range(of: #"\b(file|directory|dir)\b"#, options: [.regularExpression, .caseInsensitive]) != nil
        }
    }

    /// Every option and positional argument (flags take no value) of every command, from the
    /// binary's own description of its command tree, so a new one cannot be left out.
    func everyArgument() throws -> [Argument] {
        let dump = try sluice(["--experimental-dump-help"])
        let root = try #require(try JSONSerialization.jsonObject(with: Data(dump.output.utf8)) as? [String: Any])
        var found: [Argument] = []
        func walk(_ command: [String: Any], _ path: [String]) {
            for argument in command["arguments"] as? [[String: Any]] ?? [] where argument["kind"] as? String != "flag" {
                let positional = argument["kind"] as? String == "positional"
                let name = positional ? nil : (argument["preferredName"] as? [String: Any])?["name"] as? String
                found.append(Argument(command: path, name: name, positional: positional, valueName: argument["valueName"] as? String ?? "",
                                      optional: argument["isOptional"] as? Bool ?? true, help: argument["abstract"] as? String ?? ""))
            }
            for sub in command["subcommands"] as? [[String: Any]] ?? [] {
                walk(sub, path + [sub["commandName"] as? String ?? ""])
            }
        }
        walk(try #require(root["command"] as? [String: Any]), [])
        return found
    }

    /// Each path-taking argument given `s3://x/y`, every other required one a local placeholder,
    /// run in an empty directory: the usage error names the argument and says why, and nothing
    /// (no `s3:` directory) is written.
    @Test func everyPathOptionOfEveryCommandRefusesAURLByName() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let arguments = try everyArgument()
        let paths = arguments.filter(\.namesFiles)
        #expect(Set(paths.map(\.label)).isSuperset(of: Self.takingURLs))
        var refused = 0
        for argument in paths {
            if Self.takingURLs.contains(argument.label) {
                #expect(argument.help.contains("s3://bucket/prefix"), "\(argument.label) takes buckets but its help does not say so")
                continue
            }
            var words = argument.command
            for other in arguments where other.command == argument.command && !other.optional && other.synopsis != argument.synopsis {
                words += (other.name.map { ["--\($0)"] } ?? []) + ["placeholder"]
            }
            words += (argument.name.map { ["--\($0)"] } ?? []) + [Self.url]
            let result = try sluice(words, in: dir)
            #expect(result.status == 64, "\(words.joined(separator: " ")): exit \(result.status)\n\(result.errors)")
            #expect(result.errors.contains("The value '\(Self.url)' is invalid for '\(argument.synopsis)': "), "\(result.errors)")
            #expect(result.errors.contains("not a URL") || result.errors.contains("not as a URL"), "\(result.errors)")
            refused += 1
        }
        #expect(refused >= 45)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }
}
