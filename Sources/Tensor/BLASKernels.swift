import COpenBLAS
import Foundation

/// Which of OpenBLAS's kernels the process runs.
///
/// OpenBLAS picks its kernels by the CPU model it knows. Debian's 0.3.21 predates this machine's
/// CPU model and falls back to its Prescott (SSE3) kernels. On an AVX-512 machine that gives
/// 22-26 GFLOP/s of sgemm where its SkylakeX kernels give 60-70 (BENCHMARKS.md, Encoders).
/// OpenBLAS reads `OPENBLAS_CORETYPE` only when it loads, so a command line re-executes itself
/// once with the variable set.
public enum BLASKernels {
    /// The kernels OpenBLAS loaded, e.g. "SkylakeX" or "Prescott".
    public static var loaded: String { String(cString: openblas_get_corename()) }

    /// The kernels this CPU's instruction sets can run when OpenBLAS fell back to Prescott without
    /// being asked to: "SkylakeX" with AVX-512 (F, BW, DQ, VL), "Haswell" with AVX2 and FMA; nil
    /// when the loaded kernels stand (an old CPU, or a user's own `OPENBLAS_CORETYPE`).
    public static func better(environment: [String: String] = ProcessInfo.processInfo.environment,
                              cpuFlags: Set<Substring>? = nil) -> String? {
        guard environment["OPENBLAS_CORETYPE"] == nil, loaded.lowercased() == "prescott" else { return nil }
        let flags = cpuFlags ?? Self.cpuFlags()
        if ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy({ flags.contains($0[...]) }) { return "SkylakeX" }
        if flags.contains("avx2"), flags.contains("fma") { return "Haswell" }
        return nil
    }

    /// Re-executes this program with `OPENBLAS_CORETYPE` set when `better()` names kernels; returns
    /// (having changed nothing) when it does not or the exec fails.
    public static func reexecuteWithBetterKernels() {
        guard let kernels = better() else { return }
        setenv("OPENBLAS_CORETYPE", kernels, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        unsetenv("OPENBLAS_CORETYPE")
    }

    /// The `flags` line of /proc/cpuinfo (empty where there is none).
    static func cpuFlags() -> Set<Substring> {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return [] }
        return Set(line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ":" }))
    }
}
