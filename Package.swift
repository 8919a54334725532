// swift-tools-version:6.1
import PackageDescription

/// The MPI the CMPI target builds against: MPICH (pkg-config `mpich`) unless SLUICE_MPI=openmpi
/// (`ompi-c`); each MPI needs its own --scratch-path, as their module caches differ.
let mpi = Context.environment["SLUICE_MPI"] == "openmpi" ? (pkgConfig: "ompi-c", apt: "libopenmpi-dev") : (pkgConfig: "mpich", apt: "libmpich-dev")

/// Sluice: a streaming data pipeline with in-process trainers.
///
/// Dependencies point one way: sluice (CLI) -> Pipelines (YAML runner) -> domain modules
/// (Media, Text, Shards) -> PipelineCore; Shards and Pipelines -> ObjectStore (S3), which depends on
/// nothing of ours but SystemErrors; Tensor stands on OpenBLAS alone. SystemErrors, below them all
/// and depending on nothing, says system errors in words for every module that reads or writes
/// files, and holds `CodedError`, the shape every module's errors share; Settings, a leaf over it,
/// describes options values (names, help, ranges, defaults) once for the command line, pipeline
/// stages and checkpoints of Media, Text, Training and Pipelines. The C
/// libraries sit behind tiny system-library targets that hold only a module map and a shim header.
let package = Package(
    name: "Sluice",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sluice", targets: ["sluice"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/yaslab/CSV.swift", from: "2.5.2"),
    ],
    targets: [
        // MARK: C libraries (pkg-config + apt providers; shims re-export macros Swift cannot import)
        .systemLibrary(
            name: "CFFmpeg", pkgConfig: "libavformat libavcodec libavutil libswscale libswresample",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libswscale-dev", "libswresample-dev"])]),
        .systemLibrary(name: "CSndFile", pkgConfig: "sndfile", providers: [.apt(["libsndfile1-dev"])]),
        .systemLibrary(name: "CFFTW", pkgConfig: "fftw3f", providers: [.apt(["libfftw3-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CXXHash", pkgConfig: "libxxhash", providers: [.apt(["libxxhash-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CMPI", pkgConfig: mpi.pkgConfig, providers: [.apt([mpi.apt])]),

        /// The log-mel inner loops, built for AVX2 and for baseline x86-64 with the loader choosing.
        .target(name: "CMelKernels"),
        .target(name: "CTensorKernels"),

        /// System errors (errno, Foundation's file errors) in plain words, and the `CodedError`
        /// convention; depends on nothing.
        .target(name: "SystemErrors"),
        /// Options values as lists of named, checked settings, and did-you-mean hints; over SystemErrors alone.
        .target(name: "Settings", dependencies: ["SystemErrors"]),

        // MARK: The engine
        .target(
            name: "PipelineCore",
            dependencies: [
                "SystemErrors",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "OrderedCollections", package: "swift-collections"),
            ],
            // Lets callers' release builds specialise the generic engine for their item types.
            swiftSettings: [.unsafeFlags(["-cross-module-optimization"], .when(configuration: .release))]),

        // MARK: Domain modules
        /// Video frames (FFmpeg), audio (libsndfile, FFmpeg), resampling, log-mel (FFmpeg's FFT, and
        /// FFTW for lengths FFmpeg 5.1 has no fast path for), as PipelineCore arrays.
        .target(name: "Media", dependencies: ["CFFmpeg", "CSndFile", "CFFTW", "CMelKernels", "PipelineCore", "Settings", "SystemErrors"]),
        /// Corpus readers, BERT WordPiece (identical to HF tokenizers), vocabulary training, packing,
        /// MLM and RetroMAE masking.
        .target(name: "Text", dependencies: ["CZlib", "CZstd", "Settings", "SystemErrors"]),
        /// S3-compatible object storage: a blocking client (libcurl, our own SigV4 signer), retries,
        /// multipart upload; plain http(s) reads on the same transport. Depends on nothing of ours
        /// but SystemErrors (for the error convention).
        .target(
            name: "ObjectStore",
            dependencies: ["CCurl", "SystemErrors", .product(name: "Crypto", package: "swift-crypto")]),
        /// MDS-compatible shards: writer, reader, shuffling, splitting, resume, mixing; local or in a bucket.
        .target(
            name: "Shards",
            dependencies: [
                "PipelineCore", "SystemErrors", "ObjectStore", "CZstd", "CZlib", "CXXHash",
                .product(name: "Crypto", package: "swift-crypto"),
            ]),
        /// WebDataset tar shards: members streamed through libarchive from a file, a bucket or a URL,
        /// grouped into samples by key; shards written with rotation by count and size.
        .target(name: "WebDataset", dependencies: ["CArchive", "ObjectStore", "SystemErrors"]),
        /// Ranks and collectives over MPI (or RANK/WORLD_SIZE for a data split without MPI).
        .target(name: "MPIRanks", dependencies: ["CMPI", "SystemErrors"]),
        /// Tensors, tape autodiff over OpenBLAS, layers, optimizers, checkpoints, Monarch.
        .target(name: "Tensor", dependencies: ["COpenBLAS", "CTensorKernels", "SystemErrors"]),
        // RetroMAE: the BERT encoder with its enhanced decoder (Models), the trainer loop (Training)
        .target(name: "Models", dependencies: ["Tensor", "Text", "SystemErrors"]),
        .target(name: "Training", dependencies: ["Models", "Tensor", "Text", "Settings", "SystemErrors", "MPIRanks"]),

        // MARK: Pipeline files and the stages they can name
        .target(
            name: "Pipelines",
            dependencies: [
                "PipelineCore", "Settings", "SystemErrors", "Media", "Shards", "WebDataset", "Text", "Models", "Training", "Tensor", "ObjectStore", "MPIRanks",
                .product(name: "Yams", package: "Yams"),
                .product(name: "OrderedCollections", package: "swift-collections"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CSV", package: "CSV.swift"),
            ]),

        // MARK: The command line
        .executableTarget(
            name: "sluice",
            dependencies: [
                "Pipelines", "PipelineCore", "Settings", "SystemErrors", "Media", "Shards", "Tensor", "Text", "Models", "Training", "MPIRanks", "ObjectStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // MARK: Benchmarks (release builds only; tools/bench-*.sh run them beside the peer tools)
        .executableTarget(name: "sluice-bench", dependencies: ["PipelineCore"], path: "Benchmarks/sluice-bench"),
        .executableTarget(name: "media-bench", dependencies: ["Media"], path: "Benchmarks/media-bench"),
        .executableTarget(name: "text-bench", dependencies: ["Text"], path: "Benchmarks/text-bench"),
        .executableTarget(name: "shards-bench", dependencies: ["Shards"], path: "Benchmarks/shards-bench"),
        .executableTarget(name: "webdataset-bench", dependencies: ["WebDataset"], path: "Benchmarks/webdataset-bench"),
        .executableTarget(
            name: "s3-bench", dependencies: ["Shards", "ObjectStore", "S3TestServer", .product(name: "Crypto", package: "swift-crypto")],
            path: "Benchmarks/s3-bench"),
        .executableTarget(name: "tensor-bench", dependencies: ["Tensor", "Models", "COpenBLAS"], path: "Benchmarks/tensor-bench"),
        .executableTarget(name: "encoders-bench", dependencies: ["Models", "Tensor", "COpenBLAS"], path: "Benchmarks/encoders-bench"),
        .executableTarget(name: "mpi-bench", dependencies: ["MPIRanks"], path: "Benchmarks/mpi-bench"),
        .executableTarget(name: "retromae-bench", dependencies: ["Models", "Tensor", "Text", "Training"], path: "Benchmarks/retromae-bench"),
        .executableTarget(name: "spoken-moments-bench", dependencies: ["Models", "Tensor", "Training"], path: "Benchmarks/spoken-moments-bench"),
        .executableTarget(name: "capsules-bench", dependencies: ["Models", "Tensor", "Text", "Training"], path: "Benchmarks/capsules-bench"),

        // MARK: Fuzzing (tools/fuzz.sh builds it with libFuzzer; plain builds replay kept inputs)
        .executableTarget(
            name: "sluice-fuzz", dependencies: ["Pipelines", "PipelineCore", "Media", "Shards", "WebDataset", "Text", "Tensor"],
            path: "Fuzz/sluice-fuzz"),

        // MARK: Tests, beside the module they test
        .testTarget(name: "CLibrariesTests", dependencies: ["CFFmpeg", "CSndFile", "COpenBLAS"]),
        .testTarget(name: "SystemErrorsTests", dependencies: ["SystemErrors"]),
        .testTarget(name: "SettingsTests", dependencies: ["Settings"]),
        .testTarget(name: "PipelineCoreTests", dependencies: ["PipelineCore"]),
        .testTarget(name: "MediaTests", dependencies: ["Media", "PipelineCore"], exclude: ["Fixtures"]),
        .testTarget(name: "TextTests", dependencies: ["Text", "CZlib", "CZstd"], exclude: ["Fixtures"]),
        .testTarget(name: "ShardsTests", dependencies: ["Shards", "PipelineCore", "ObjectStore", "S3TestServer"], exclude: ["Fixtures"]),
        /// Starts a real S3 server (SeaweedFS, tools/install-s3-server.sh) on 127.0.0.1 for tests and benchmarks,
        /// and a plain HTTP one (a Python script) that serves ranges and misbehaves on request.
        .target(name: "S3TestServer", dependencies: ["ObjectStore"], path: "Tests/S3TestServer", exclude: ["http_test_server.py"]),
        .testTarget(name: "ObjectStoreTests", dependencies: ["ObjectStore", "S3TestServer"]),
        .testTarget(name: "WebDatasetTests", dependencies: ["WebDataset", "ObjectStore", "S3TestServer", .product(name: "Crypto", package: "swift-crypto")],
                    exclude: ["Fixtures"]),
        /// What the tests of Tensor, Models and Training share: gradient checks and a tiny corpus.
        .target(name: "TestSupport", dependencies: ["Tensor", "Models", "Text"], path: "Tests/TestSupport"),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Tensor", "Text", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Models", "Settings", "Tensor", "Text", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "PipelinesTests", dependencies: ["Pipelines", "PipelineCore", "Media", "Shards", "Models", "Tensor", "Training", "Text",
                                                           "ObjectStore", "S3TestServer"]),
        .testTarget(name: "sluiceTests", dependencies: ["sluice", "ObjectStore", "S3TestServer"]),
        /// Multi-rank tests: they run `mpiexec -n 2|3` of the sluice binary and of this helper.
        .executableTarget(name: "mpi-ranks-check", dependencies: ["MPIRanks"], path: "Tests/MPIRanksCheck"),
        .testTarget(name: "MPIRanksTests", dependencies: ["MPIRanks", "Shards", "WebDataset", "ObjectStore", "S3TestServer", "mpi-ranks-check", "sluice"]),
    ],
    swiftLanguageModes: [.v6]
)
