import CFFmpeg
import COpenBLAS
import CSndFile
import Foundation
import Testing

/// Smoke tests: each C library links, runs, and reads what we hand it.
struct CLibrariesTests {
    static let samples = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("samples/smoke")

    @Test func ffmpegReadsStreamInfo() throws {
        let path = Self.samples.appendingPathComponent("testsrc.mp4").path
        var context: UnsafeMutablePointer<AVFormatContext>?
        #expect(avformat_open_input(&context, path, nil, nil) == 0)
        defer { avformat_close_input(&context) }
        #expect(avformat_find_stream_info(context, nil) >= 0)
        let index = av_find_best_stream(context, AVMEDIA_TYPE_VIDEO, -1, -1, nil, 0)
        #expect(index >= 0)
        let parameters = context!.pointee.streams[Int(index)]!.pointee.codecpar!.pointee
        #expect(parameters.width == 64)
        #expect(parameters.height == 48)
    }

    @Test func ffmpegShimReexportsMacros() {
        #expect(sluice_averror_eof() < 0)
        #expect(sluice_averror(EINVAL) == -EINVAL)
        #expect(sluice_av_nopts_value() == Int64.min)
        var buffer = [CChar](repeating: 0, count: Int(sluice_av_error_max_string_size()))
        let message = String(cString: sluice_av_err2str(sluice_averror_eof(), &buffer, buffer.count))
        #expect(message == "End of file")
    }

    @Test func sndfileOpensWav() throws {
        let path = Self.samples.appendingPathComponent("tone440.wav").path
        var info = SF_INFO()
        let file = sf_open(path, Int32(sluice_sfm_read), &info)
        #expect(file != nil)
        defer { sf_close(file) }
        #expect(info.samplerate == 16000)
        #expect(info.channels == 1)
        #expect(info.frames == 8000)
        var samples = [Float](repeating: 0, count: 100)
        #expect(sf_readf_float(file, &samples, 100) == 100)
        #expect(samples.map(abs).max()! > 0.5)
    }

    @Test func openBLASMultiplies() {
        // [1 2; 3 4] x [5 6; 7 8] = [19 22; 43 50], row-major.
        let a: [Float] = [1, 2, 3, 4], b: [Float] = [5, 6, 7, 8]
        var c = [Float](repeating: 0, count: 4)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2, 2, 2, 1, a, 2, b, 2, 0, &c, 2)
        #expect(c == [19, 22, 43, 50])
    }
}
