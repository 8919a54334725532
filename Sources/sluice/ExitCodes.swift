import ArgumentParser
import SystemErrors

/// sluice's documented exit codes (`sluice --help`, README "Exit codes"), those of sysexits.h
/// where one fits, so scripts can tell a typo from bad data from a failing disk.
extension ExitCode {
    /// 64 (EX_USAGE): a bad flag or value; ArgumentParser's own `validationFailure`.
    static let usage = ExitCode.validationFailure
    /// 65 (EX_DATAERR): the input is bad (a damaged file, a pipeline file that is wrong).
    static let badData = ExitCode(65)
    /// 74 (EX_IOERR): a file, object or system call failed (missing, unreadable, a full disk).
    static let ioFailure = ExitCode(74)
    /// 130 (128 + SIGINT): stopped by Ctrl-C, as a shell reports an interrupted command.
    static let interrupted = ExitCode(130)

    /// The exit code for a failure of that kind.
    init(_ failure: Failure) {
        self = switch failure {
        case .data: .badData
        case .io: .ioFailure
        case .interrupted: .interrupted
        }
    }

    /// The lines of `sluice --help` that list the codes.
    static let documentation = """
        Exit codes:
          0    success
          64   usage: a bad flag or value (the usage text follows the message)
          65   bad data: an input or pipeline file that is wrong or damaged
          74   I/O: a file, object or system call failed (missing, a full disk)
          130  interrupted: stopped by Ctrl-C
        """
}
