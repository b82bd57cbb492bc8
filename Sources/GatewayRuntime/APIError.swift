import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// A client error with a machine-readable code and a human message:
/// `{"error":"invalid_request","message":"…"}`.
public struct APIError: HTTPResponseError, Equatable {
    public var status: HTTPResponse.Status
    /// Stable code such as `invalid_request`, `unknown_product`, `unauthorized`.
    public var code: String
    /// What was wrong, without secrets.
    public var message: String

    /// Creates an error response.
    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    static func invalid(_ message: String) -> APIError { APIError(.badRequest, "invalid_request", message) }
    static let unauthorized = APIError(.unauthorized, "unauthorized", "missing or invalid credentials")
    static let forbidden = APIError(.forbidden, "forbidden", "these credentials may not use this route")

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        let data = try jsonEncoder.encode(APIErrorBody(error: code, message: message))
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}

struct APIErrorBody: Encodable {
    var error: String
    var message: String
}
