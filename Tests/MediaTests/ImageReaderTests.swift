import Foundation
import Media
import Testing

/// The still images of tools/export-bytes-fixtures.sh and what `ffmpeg -i IMAGE -pix_fmt rgb24`
/// made of each.
struct ImageFixture: Decodable, CustomTestStringConvertible {
    let image: String
    let pixelFormat: String

    static func all() throws -> [ImageFixture] {
        struct File: Decodable { let images: [ImageFixture] }
        let data = try Data(contentsOf: URL(fileURLWithPath: Repository.fixture("images/images.json")))
        return try JSONDecoder().decode(File.self, from: data).images
    }

    var path: String { Repository.fixture("images/\(image)") }
    var bytes: [UInt8] { get throws { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) } }

    /// The CLI's rgb24 picture (`variant` "": native size).
    func expected(_ variant: String = "") throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path + (variant.isEmpty ? "" : "-\(variant)") + ".rgb")))
    }

    var testDescription: String { "\(image) (\(pixelFormat))" }
}

struct ImageReaderTests {
    /// JPEG, PNG in RGB, RGBA, grey, grey + alpha, palette, 16-bit RGB and grey, lossy and
    /// lossless WebP: byte for byte the CLI's RGB, from the file and from its bytes, as a
    /// one-frame batch of 33x21.
    @Test(arguments: try ImageFixture.all())
    func imagesDecodeToTheCLIsRGBFromFileAndBytes(fixture: ImageFixture) throws {
        let expected = try fixture.expected()
        let fromFile = try ImageReader.decode(.file(fixture.path))
        #expect(fromFile.count == 1 && fromFile.width == 33 && fromFile.height == 21 && fromFile.frameNumbers == [0])
        #expect(fromFile.pixels == expected)
        let fromBytes = try ImageReader.decode(.bytes(name: "shard-000001.tar:sample7.\((fixture.image as NSString).pathExtension)",
                                                      try fixture.bytes))
        #expect(fromBytes == fromFile)
    }

    /// Sized as video frames are sized, through the same scaler: near the CLI's scale filter, as
    /// scaled video frames are (the CLI converts to RGB after scaling, we in one step).
    @Test func aScaledImageIsTheCLIsScaledPicture() throws {
        let photo = try #require(try ImageFixture.all().first { $0.image == "photo.jpg" })
        let batch = try ImageReader.decode(.bytes(name: "photo.jpg", try photo.bytes), output: FrameOutput(size: .exact(width: 16, height: 12)))
        #expect(batch.width == 16 && batch.height == 12)
        #expect(psnr(batch.pixels[...], try photo.expected("16x12")[...]) > 40)
        let cropped = try ImageReader.decode(.file(photo.path), output: FrameOutput(size: .shorterSideThenCrop(shorterSide: 14, width: 12, height: 12)))
        #expect(cropped.width == 12 && cropped.height == 12)
    }

    /// A camera JPEG carries tens of KB of EXIF before its picture, past the first bytes FFmpeg
    /// probes, so FFmpeg picks its reader by the name's extension (image2) instead of the contents:
    /// from bytes it decodes to the same pixels. A name that reads as an image2 file pattern
    /// (`%03d`, globs) is only a name: nothing is opened by it.
    @Test func aJPEGWithALargeEXIFBlockDecodesFromBytes() throws {
        let photo = try #require(try ImageFixture.all().first { $0.image == "photo.jpg" })
        let original = try photo.bytes
        let exif = [0xFF, 0xE1, 0x75, 0x32] + Array("Exif\0\0".utf8) + [UInt8](repeating: 0, count: 0x7532 - 8)
        let camera = Array(original.prefix(2)) + exif + Array(original.dropFirst(2))
        for name in ["shard.tar:camera.jpg", "shard.tar:camera.jpeg", "camera", "shard.tar:frame%03d{1}*.jpg"] {
            #expect(try ImageReader.decode(.bytes(name: name, camera)).pixels == photo.expected(), "\(name)")
        }
    }

    /// Members named for another format than they hold (common in scraped image-text sets) are
    /// decoded by what they are, a PNG named .jpg, a camera JPEG named .png: FFmpeg's image
    /// reader picks the decoder by the contents even when the name's extension picked the reader.
    @Test func mislabelledImageBytesAreDecodedByTheirContents() throws {
        let fixtures = try ImageFixture.all()
        let png = try #require(fixtures.first { $0.image == "rgb.png" }), photo = try #require(fixtures.first { $0.image == "photo.jpg" })
        #expect(try ImageReader.decode(.bytes(name: "key.jpg", try png.bytes)).pixels == png.expected())
        let original = try photo.bytes
        let camera = Array(original.prefix(2)) + [0xFF, 0xE1, 0x75, 0x32] + [UInt8](repeating: 0, count: 0x7530) + Array(original.dropFirst(2))
        #expect(try ImageReader.decode(.bytes(name: "key.png", camera)).pixels == photo.expected())
    }

    /// A video is not an image: said so, not its first frame passed off as one.
    @Test func aVideoIsNotAnImage() {
        let error = mediaFailure { _ = try ImageReader.decode(.file(Repository.clips[0])) }
        #expect(error?.code == .unsupported && error?.reason.contains("not a still image") == true)
    }

    /// Cut images: JPEG without its end marker (FFmpeg would fill the rest in grey), PNG before
    /// IEND, WebP short of its RIFF size.
    @Test(arguments: ["photo.jpg", "rgb.png", "lossy.webp", "lossless.webp"])
    func cutImagesAreTruncated(image: String) throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Repository.fixture("images/\(image)"))))
        for cut in [bytes.count * 6 / 10, bytes.count - 1] {
            let name = "shard.tar:cut.\((image as NSString).pathExtension)"
            let error = mediaFailure { _ = try ImageReader.decode(.bytes(name: name, Array(bytes.prefix(cut)))) }
            #expect(error?.code == .truncated && error?.path == name, "\(image) cut to \(cut): \(error.map(String.init(describing:)) ?? "no error")")
        }
    }

    /// Headers declaring pictures of 100000 x 100000 (PNG) and 65535 x 65535 (JPEG), each a
    /// few bytes long: an error naming the item, before any picture of that size is allocated.
    @Test func hugeDeclaredImageSizesAreRefused() throws {
        var png = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Repository.fixture("images/rgb.png"))))
        #expect(String(decoding: png[12..<16], as: UTF8.self) == "IHDR")
        png.replaceSubrange(16..<24, with: [0x00, 0x01, 0x86, 0xA0, 0x00, 0x01, 0x86, 0xA0])  // width, height 100000
        var jpeg = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Repository.fixture("images/photo.jpg"))))
        let sof = try #require((0..<jpeg.count - 1).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 })
        jpeg.replaceSubrange(sof + 5..<sof + 9, with: [0xFF, 0xFF, 0xFF, 0xFF])  // height, width 65535
        for (name, bytes) in [("huge.png", png), ("huge.jpg", jpeg)] {
            let error = mediaFailure { _ = try ImageReader.decode(.bytes(name: name, bytes)) }
            #expect(error?.path == name && error?.code == .invalidData, "\(error.map(String.init(describing:)) ?? "no error")")
            #expect(error?.reason.hasPrefix("frame size \(name == "huge.png" ? "100000x100000" : "65535x65535") in its header is too large") == true)
        }
    }
}
