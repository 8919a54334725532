import ArgumentParser
import Foundation
import Tensor

/// Lists what a safetensors file holds, so a user can see the names to load weights by
/// (`bert.encoder.layer.0.attention.self.query.weight`, ...) or check an exported checkpoint.
struct SafeTensorsInfo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "safetensors",
        abstract: "List the tensors (name, shape) and metadata of a safetensors file.")

    @Argument(help: "A .safetensors file (Hugging Face weights or a sluice checkpoint).", transform: localPath)
    var file: String

    func run() throws {
        let contents = try SafeTensors.read(URL(fileURLWithPath: file))
        for name in contents.tensors.keys.sorted() {
            print("\(name)  \(contents.tensors[name]?.shape ?? [])")
        }
        let scalars = contents.tensors.values.reduce(0) { $0 + $1.count }
        print("\(contents.tensors.count) tensors, \(scalars) scalars")
        for key in contents.metadata.keys.sorted() { print("metadata \(key) = \(contents.metadata[key] ?? "")") }
    }
}
