import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import SlipwayCore

/// Sends blob bytes with `sendfile(2)` instead of copying them through user space.
///
/// Hummingbird's response body carries only `ByteBuffer`s, so a route cannot write a
/// `FileRegion` itself. This handler sits in each plain-HTTP connection's pipeline between
/// Hummingbird's codec and NIOHTTP1's `HTTPResponseEncoder`, where a body part is `IOData` and
/// may be a file region. A blob route `offer`s it an open `BlobFileSlice` under a random token
/// and answers with an empty body, its real `Content-Length`, and the token in an internal
/// header. When that response's head passes, the handler removes the header (a client never
/// sees it) and claims the slice; when its end passes, the handler writes the file region just
/// before it and closes the descriptor once the write has completed or failed.
///
/// Only a token this connection was offered selects a file: the header's value is looked up,
/// never used as a path, and an unknown token fails the response instead of sending anything.
/// Slices never claimed (a response replaced after the offer) close when the connection goes.
final class FileRegionResponseHandler: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// The internal response header naming an offered slice.
    static let tokenHeader = "x-slipway-file-region"
    static let tokenField = HTTPField.Name(tokenHeader)!

    /// An offered slice and what to do once all of it was written.
    struct Offer {
        let slice: BlobFileSlice
        let sent: @Sendable (Int64) -> Void
    }

    /// Offered, waiting for the response head that names them. Requests on one connection are
    /// answered in order, but an offer can overtake the previous response's parts still in the
    /// outbound writer, hence a table rather than one slot.
    private var offered: [String: Offer] = [:]
    /// Claimed by the response in flight, waiting for its end.
    private var claimed: Offer?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head):
            if let token = head.headers.first(name: Self.tokenHeader) {
                head.headers.remove(name: Self.tokenHeader)
                guard let offer = offered.removeValue(forKey: token) else {
                    // Our own header without our slice: the promised bytes cannot be sent.
                    promise?.fail(ChannelError.inappropriateOperationForState)
                    context.close(promise: nil)
                    return
                }
                claimed?.slice.close()
                claimed = offer
            }
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            if let offer = claimed {
                claimed = nil
                let sent = context.eventLoop.makePromise(of: Void.self)
                sent.futureResult.whenComplete { result in
                    offer.slice.close()
                    if case .success = result { offer.sent(offer.slice.length) }
                }
                context.write(wrapOutboundOut(.body(.fileRegion(offer.slice.fileRegion))), promise: sent)
            }
            context.write(data, promise: promise)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        claimed?.slice.close()
        claimed = nil
        for offer in offered.values { offer.slice.close() }
        offered = [:]
    }

    /// Hands `slice` to the connection's handler and returns the token to put in the response's
    /// `tokenHeader`, or nil when the connection has no such handler (in-process test clients):
    /// the slice is then closed and the caller streams the bytes instead.
    static func offer(_ slice: BlobFileSlice, on channel: any Channel, sent: @escaping @Sendable (Int64) -> Void) async -> String? {
        let token = UUID().uuidString
        let accepted = try? await channel.eventLoop.submit { () -> Bool in
            guard channel.isActive, let handler = try? channel.pipeline.syncOperations.handler(type: FileRegionResponseHandler.self) else {
                return false
            }
            handler.offered[token] = Offer(slice: slice, sent: sent)
            return true
        }.get()
        guard accepted == true else {
            slice.close()
            return nil
        }
        return token
    }
}
