import Foundation
import SystemErrors

/// TensorBoard event files, written as TensorFlow's record format so `tensorboard --logdir` and its
/// reader (`EventAccumulator`) show a run's curves.
///
/// Written by hand rather than with swift-protobuf: a scalar log needs three message types of two
/// or three fields each (Event, Summary, Summary.Value), which is less code than the generated
/// files, and adds nothing to the build (the protobuf plugin takes minutes to build here).
/// Each record is `length (u64 LE)`, `masked CRC32C of length (u32)`, `data`, `masked CRC32C of data`.
public struct TensorBoardEventFile {
    public let url: URL
    private let handle: FileHandle

    /// Whether `name` is an event file this writer makes, so a run starting over removes its own
    /// and never another tool's.
    static func isWritten(name: String) -> Bool { name.hasPrefix("events.out.tfevents.") && name.hasSuffix(".sluice") }

    /// Creates `directory/events.out.tfevents.TIME.HOST.PID.sluice` (the name TensorBoard globs for)
    /// and writes the version record every event file starts with.
    public init(directory: URL, wallTime: Double = Date().timeIntervalSince1970) throws {
        let host = ProcessInfo.processInfo.hostName
        url = directory.appendingPathComponent("events.out.tfevents.\(Int(wallTime)).\(host).\(getpid()).sluice")
        let descriptor = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw TrainingError(.writeFailed, url.path, "cannot create the TensorBoard event file: \(SystemErrorText.words(errno: errno))")
        }
        handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        try write(Self.versionEvent(wallTime: wallTime))
    }

    /// Appends one event holding `scalars` (tag, value) at `step`.
    public func write(scalars: [(tag: String, value: Float)], step: Int, wallTime: Double = Date().timeIntervalSince1970) throws {
        try write(Self.scalarEvent(scalars, step: step, wallTime: wallTime))
    }

    public func close() throws { try handle.close() }

    private func write(_ event: [UInt8]) throws {
        do { try handle.write(contentsOf: Self.record(event)) } catch {
            throw TrainingError(.writeFailed, url.path, "cannot write the TensorBoard event file: \(SystemErrorText.words(error))")
        }
    }

    // MARK: Encoding

    /// `Event { wall_time = 1; file_version = 3 }` with TensorBoard's current version string.
    static func versionEvent(wallTime: Double) -> [UInt8] {
        var event = Protobuf()
        event.double(field: 1, wallTime)
        event.bytes(field: 3, Array("brain.Event:2".utf8))
        return event.bytes
    }

    /// `Event { wall_time = 1; step = 2; summary = 5 { value = 1 { tag = 1; simple_value = 2 } } }`.
    static func scalarEvent(_ scalars: [(tag: String, value: Float)], step: Int, wallTime: Double) -> [UInt8] {
        var summary = Protobuf()
        for (tag, value) in scalars {
            var entry = Protobuf()
            entry.bytes(field: 1, Array(tag.utf8))
            entry.float(field: 2, value)
            summary.bytes(field: 1, entry.bytes)
        }
        var event = Protobuf()
        event.double(field: 1, wallTime)
        event.varint(field: 2, UInt64(bitPattern: Int64(step)))
        event.bytes(field: 5, summary.bytes)
        return event.bytes
    }

    /// One TFRecord framing `data`.
    static func record(_ data: [UInt8]) -> Data {
        let length = withUnsafeBytes(of: UInt64(data.count).littleEndian, Array.init)
        var out = Data(length)
        out.append(contentsOf: withUnsafeBytes(of: maskedCRC32C(length).littleEndian, Array.init))
        out.append(contentsOf: data)
        out.append(contentsOf: withUnsafeBytes(of: maskedCRC32C(data).littleEndian, Array.init))
        return out
    }

    /// TFRecord's masked CRC32C: rotated right by 15 bits plus a constant, so CRCs of data that
    /// itself holds CRCs stay well distributed.
    static func maskedCRC32C(_ bytes: [UInt8]) -> UInt32 {
        let crc = crc32c(bytes)
        return ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }

    /// CRC-32C (Castagnoli), the checksum TFRecord uses; zlib has only the other CRC-32.
    static func crc32c(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = crc32cTable[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return ~crc
    }

    private static let crc32cTable: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 == 1 ? (value >> 1) ^ 0x82F6_3B78 : value >> 1 }
        return value
    }
}

/// The protobuf wire format, for the few fields an event needs.
private struct Protobuf {
    var bytes: [UInt8] = []

    mutating func varint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    mutating func varint(field: Int, _ value: UInt64) {
        varint(UInt64(field << 3))
        varint(value)
    }

    mutating func double(field: Int, _ value: Double) {
        varint(UInt64(field << 3 | 1))
        bytes += withUnsafeBytes(of: value.bitPattern.littleEndian, Array.init)
    }

    mutating func float(field: Int, _ value: Float) {
        varint(UInt64(field << 3 | 5))
        bytes += withUnsafeBytes(of: value.bitPattern.littleEndian, Array.init)
    }

    mutating func bytes(field: Int, _ value: [UInt8]) {
        varint(UInt64(field << 3 | 2))
        varint(UInt64(value.count))
        bytes += value
    }
}
