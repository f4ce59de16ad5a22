import Foundation
@testable import ObjectStorage
import Testing

/// The signer against AWS's published vectors.
///
/// Suite cases: the AWS Signature Version 4 test suite (aws-sig-v4-test-suite, as carried by
/// awslabs/aws-c-auth under tests/aws-signing-test-suite/v4), credentials AKIDEXAMPLE, 2015-08-30
/// 12:36:00 UTC, region us-east-1, service "service". S3 cases: the Amazon S3 API reference,
/// "Authenticating Requests: Using the Authorization Header (AWS Signature Version 4)" (GET
/// object with Range) and "Authenticating Requests: Using Query Parameters" (presigned URL).
@Suite("SigV4 signer")
struct SigV4SignerTests {
    struct Vector: Sendable, CustomStringConvertible {
        let name: String
        let method: String
        let path: String
        let query: [(String, String)]
        let headers: [(String, String)]
        let payloadHash: String
        let canonicalRequest: String
        let signature: String
        var description: String { name }
    }

    static let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    static let suiteDate = Date(timeIntervalSince1970: 1_440_938_160)  // 20150830T123600Z
    static let suiteSigner = SigV4Signer(credentials: S3Credentials(accessKey: "AKIDEXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
                                         region: "us-east-1", service: "service")
    static let host = ("Host", "example.amazonaws.com")
    static let stamp = ("X-Amz-Date", "20150830T123600Z")

    static let suite: [Vector] = [
        Vector(name: "get-vanilla", method: "GET", path: "/", query: [], headers: [host, stamp], payloadHash: empty,
               canonicalRequest: "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\(empty)",
               signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        Vector(name: "get-vanilla-query-order-key-case", method: "GET", path: "/", query: [("Param2", "value2"), ("Param1", "value1")],
               headers: [host, stamp], payloadHash: empty,
               canonicalRequest: "GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\(empty)",
               signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
        Vector(name: "get-vanilla-query-order-encoded", method: "GET", path: "/", query: [("Param-3", "Value3"), ("Param", "Value2"), ("ሴ", "Value1")],
               headers: [host, stamp], payloadHash: empty,
               canonicalRequest: "GET\n/\n%E1%88%B4=Value1&Param=Value2&Param-3=Value3\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\(empty)",
               signature: "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac"),
        Vector(name: "get-space (unnormalized)", method: "GET", path: "/example space/", query: [], headers: [host, stamp], payloadHash: empty,
               canonicalRequest: "GET\n/example%20space/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\(empty)",
               signature: "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"),
        Vector(name: "get-utf8", method: "GET", path: "/ሴ", query: [], headers: [host, stamp], payloadHash: empty,
               canonicalRequest: "GET\n/%E1%88%B4\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\(empty)",
               signature: "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
        Vector(name: "get-unreserved", method: "GET", path: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", query: [],
               headers: [host, stamp], payloadHash: empty,
               canonicalRequest: "GET\n/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\(empty)",
               signature: "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"),
        Vector(name: "get-header-value-trim", method: "GET", path: "/", query: [],
               headers: [host, ("My-Header1", " value1"), ("My-Header2", " \"a   b   c\""), stamp], payloadHash: empty,
               canonicalRequest: "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\nx-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\n\(empty)",
               signature: "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"),
        Vector(name: "get-header-key-duplicate", method: "GET", path: "/", query: [],
               headers: [host, ("My-Header1", "value2"), ("My-Header1", "value2"), ("My-Header1", "value1"), stamp], payloadHash: empty,
               canonicalRequest: "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\nx-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n\(empty)",
               signature: "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"),
        Vector(name: "post-x-www-form-urlencoded", method: "POST", path: "/", query: [],
               headers: [("Content-Type", "application/x-www-form-urlencoded"), ("Content-Length", "13"), host,
                         ("x-amz-content-sha256", "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"), stamp],
               payloadHash: "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
               canonicalRequest: "POST\n/\n\ncontent-length:13\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\n"
                   + "x-amz-content-sha256:9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e\nx-amz-date:20150830T123600Z\n\n"
                   + "content-length;content-type;host;x-amz-content-sha256;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
               signature: "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b"),
    ]

    @Test(arguments: suite)
    func awsTestSuite(_ vector: Vector) {
        let signed = Self.suiteSigner.sign(.init(method: vector.method, path: vector.path, query: vector.query, headers: vector.headers,
                                                 payloadHash: vector.payloadHash), at: Self.suiteDate)
        #expect(signed.canonicalRequest == vector.canonicalRequest)
        #expect(signed.signature == vector.signature)
        #expect(signed.authorization == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            + "SignedHeaders=\(signed.signedHeaders), Signature=\(vector.signature)")
    }

    static let s3Date = Date(timeIntervalSince1970: 1_369_353_600)  // 20130524T000000Z
    static let s3Signer = SigV4Signer(credentials: S3Credentials(accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
                                      region: "us-east-1", service: "s3")

    /// S3 API reference, "GET Object" example: the first 10 bytes of test.txt in examplebucket.
    @Test func s3GetObjectWithRange() {
        let signed = Self.s3Signer.sign(.init(method: "GET", path: "/test.txt", headers: [
            ("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9"),
            ("x-amz-content-sha256", Self.empty), ("x-amz-date", "20130524T000000Z"),
        ], payloadHash: Self.empty), at: Self.s3Date)
        #expect(signed.stringToSign == "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972")
        #expect(signed.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        #expect(signed.authorization == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    /// S3 API reference, presigned URL example: GET test.txt valid 86400 seconds.
    @Test func s3PresignedURL() {
        let query = Self.s3Signer.presignedQuery(method: "GET", host: "examplebucket.s3.amazonaws.com", path: "/test.txt",
                                                 expires: 86400, at: Self.s3Date)
        #expect(query == "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
            + "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
            + "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
    }

    @Test func credentialsNeverPrintTheSecret() {
        let credentials = S3Credentials(accessKey: "AKID", secretKey: "very-secret")
        #expect(!"\(credentials)".contains("very-secret"))
        #expect(!String(reflecting: credentials).contains("very-secret"))
    }
}
