import Foundation
import Testing
@testable import ObjectStore

/// The signer against the example signatures AWS publishes for S3 ("Signature Calculations for the
/// Authorization Header": examplebucket, 2013-05-24, the documentation's example key pair).
struct SignatureV4Tests {
    let signer = SignatureV4(credentials: S3Credentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE",
                                                        secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
                             region: "us-east-1")
    let date = Date(timeIntervalSince1970: 1_369_353_600)  // 20130524T000000Z
    let host = "examplebucket.s3.amazonaws.com"

    func signature(_ headers: [(String, String)]) -> String? {
        headers.first { $0.0 == "authorization" }?.1.components(separatedBy: "Signature=").last
    }

    @Test func getObjectWithRange() {
        let headers = signer.sign(method: "GET", host: host, path: "/test.txt", query: [], headers: [("Range", "bytes=0-9")],
                                  payloadHash: SignatureV4.emptyPayloadHash, date: date)
        #expect(signature(headers) == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        #expect(headers.first { $0.0 == "authorization" }?.1.contains("SignedHeaders=host;range;x-amz-content-sha256;x-amz-date") == true)
    }

    @Test func putObjectSignsThePayloadAndEncodesTheKey() {
        let body = Array("Welcome to Amazon S3.".utf8)
        let hash = body.withUnsafeBytes(SignatureV4.payloadHash)
        #expect(hash == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        let headers = signer.sign(method: "PUT", host: host, path: "/" + SignatureV4.encodePath("test$file.text"), query: [],
                                  headers: [("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY")],
                                  payloadHash: hash, date: date)
        #expect(signature(headers) == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
    }

    @Test func queryParametersAreSortedAndEncoded() {
        let lifecycle = signer.sign(method: "GET", host: host, path: "/", query: [("lifecycle", "")], headers: [],
                                    payloadHash: SignatureV4.emptyPayloadHash, date: date)
        #expect(signature(lifecycle) == "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")
        let listing = signer.sign(method: "GET", host: host, path: "/", query: [("prefix", "J"), ("max-keys", "2")], headers: [],
                                  payloadHash: SignatureV4.emptyPayloadHash, date: date)
        #expect(signature(listing) == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
        #expect(SignatureV4.encodeQuery([("uploadId", "a b/c+"), ("partNumber", "2")]) == "partNumber=2&uploadId=a%20b%2Fc%2B")
        #expect(SignatureV4.encodePath("dir/ü x+y.mds") == "dir/%C3%BC%20x%2By.mds")
    }
}
