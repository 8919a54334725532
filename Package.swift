// swift-tools-version:6.1
import PackageDescription

/// Sluice: a streaming data pipeline with in-process trainers.
///
/// Dependencies point one way: sluice (CLI) -> Pipelines (YAML runner) -> domain modules
/// (Media, Text, Shards, ...) -> PipelineCore. The C libraries sit behind tiny system-library
/// targets that hold only a module map and a shim header.
let package = Package(
    name: "Sluice",
    platforms: [.macOS(.v15)],
    targets: [
        // MARK: C libraries (pkg-config + apt providers; shims re-export macros Swift cannot import)
        .systemLibrary(
            name: "CFFmpeg", pkgConfig: "libavformat libavcodec libavutil libswscale libswresample",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libswscale-dev", "libswresample-dev"])]),
        .systemLibrary(
            name: "CSndFile", pkgConfig: "sndfile", providers: [.apt(["libsndfile1-dev"])]),
        .systemLibrary(
            name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CXXHash", pkgConfig: "libxxhash", providers: [.apt(["libxxhash-dev"])]),
        .systemLibrary(name: "CLibCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),

        // MARK: Domain modules
        /// MDS-compatible shards: writer, reader, shuffling, splitting, resume, mixing.
        .target(name: "Shards", dependencies: ["CZstd", "CZlib", "CXXHash", "CLibCrypto"]),

        // MARK: Benchmarks (release builds only; tools/shards-bench.sh runs them beside the peers)
        .executableTarget(name: "shards-bench", dependencies: ["Shards"], path: "Benchmarks/shards-bench"),

        // MARK: Tests, beside the module they test
        .testTarget(name: "CLibrariesTests", dependencies: ["CFFmpeg", "CSndFile", "COpenBLAS"]),
        .testTarget(name: "ShardsTests", dependencies: ["Shards"], exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v6]
)
