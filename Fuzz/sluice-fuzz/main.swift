import Foundation

// `sluice-fuzz TARGET FILE...` runs each file through a target (replaying kept inputs; a trap
// fails the run). Built by tools/fuzz.sh with -sanitize=fuzzer and -DFUZZING, it is a libFuzzer
// binary instead: `sluice-fuzz TARGET [libFuzzer options]`.

let arguments = CommandLine.arguments
guard arguments.count >= 2, let target = FuzzTarget(rawValue: arguments[1]) else {
    FileHandle.standardError.write(Data("usage: sluice-fuzz TARGET [FILE... | libFuzzer options]\ntargets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
    exit(2)
}

#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

nonisolated(unsafe) var selected = target
let callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt = { data, size in
    selected.run(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
// libFuzzer sees the arguments after TARGET.
var argc = CommandLine.argc - 1
var argv = CommandLine.unsafeArgv
argv[1] = argv[0]
var shifted = argv + 1
exit(LLVMFuzzerRunDriver(&argc, &shifted, callback))
#else
for path in arguments.dropFirst(2) {
    guard let data = FileManager.default.contents(atPath: path) else {
        FileHandle.standardError.write(Data("sluice-fuzz: cannot read \(path)\n".utf8))
        exit(1)
    }
    target.run(Array(data))
}
print("\(target.rawValue): \(arguments.count - 2) input(s) ran without a trap")
#endif
