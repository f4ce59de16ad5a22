import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1

/// Hummingbird's plain HTTP/1 connection plus the `FileRegionResponseHandler` blob GETs send
/// through. Slipway serves plain HTTP only (TLS is a proxy's job), so every connection can use
/// `sendfile(2)`. The handler has to sit before Hummingbird's codec, next to NIOHTTP1's encoder,
/// where body parts may be file regions; `additionalChannelHandlers` go after the codec, hence
/// this wrapper instead of that option.
struct SlipwayHTTP1Channel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = HTTP1Channel.Value
    let http1: HTTP1Channel

    init(responder: @escaping HTTPChannelHandler.Responder, configuration: HTTP1Channel.Configuration = .init()) {
        self.http1 = HTTP1Channel(responder: responder, configuration: configuration)
    }

    var responder: HTTPChannelHandler.Responder { http1.responder }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        http1.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let pipeline = channel.pipeline.syncOperations
            let encoder = try pipeline.context(handlerType: HTTPResponseEncoder.self)
            try pipeline.addHandler(FileRegionResponseHandler(), position: .after(encoder.handler))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await http1.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// Plain HTTP/1 with zero-copy blob bodies.
    static var slipwayHTTP1: HTTPServerBuilder {
        .init { responder in SlipwayHTTP1Channel(responder: responder) }
    }
}
