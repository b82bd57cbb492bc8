import AsyncHTTPClient
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// One call to a backend through async-http-client's delegate interface, its delegate on one event
/// loop.
///
/// The relay's hot path: every response part is handed to the delegate on the event loop of the
/// caller's connection, where the relay runs, as AHC delivers it. That avoids the per-part task
/// hand-offs of `HTTPClient.execute(_:timeout:)`'s async body sequence. The backend connection itself
/// may live on any loop: pinning it too (`.delegateAndChannel`) made AHC open a new connection
/// whenever the previous one was not back in the pool yet.
///
/// ``head()`` waits for the status line and headers. After that, either ``collect(upTo:)`` (the whole
/// body) or ``next()`` (the parts that have arrived, `nil` at the end) reads the body. Reading is
/// back-pressured: AHC reads no further from the backend while more than ``highWatermark`` parts
/// wait to be taken.
final class BackendExchange: HTTPClientResponseDelegate, @unchecked Sendable {
    typealias Response = Void

    /// Parts buffered before AHC is asked to stop reading.
    static let highWatermark = 16

    /// Everything below is guarded by `lock`.
    private let lock = NIOLock()
    private var responseHead: Result<HTTPResponseHead, any Error>?
    private var headWaiter: CheckedContinuation<HTTPResponseHead, any Error>?
    private var parts: [ByteBuffer] = []
    private var ended: (any Error)?? = nil
    private var partWaiter: CheckedContinuation<[ByteBuffer]?, any Error>?
    /// Completed when the reader has taken enough parts; AHC then reads on.
    private var demand: EventLoopPromise<Void>?

    private var task: HTTPClient.Task<Void>?

    /// Starts `request` with its delegate on `eventLoop`.
    static func start(
        client: HTTPClient, request: HTTPClient.Request, eventLoop: any EventLoop, deadline: NIODeadline
    ) -> BackendExchange {
        let exchange = BackendExchange()
        let task = client.execute(
            request: request, delegate: exchange, eventLoop: .delegate(on: eventLoop), deadline: deadline,
            logger: nil)
        exchange.lock.withLock { exchange.task = task }
        return exchange
    }

    /// Stops the call (the caller went away); a pending read ends with an error.
    func cancel() {
        let task = lock.withLock { self.task }
        task?.cancel()
    }

    /// The backend's status line and headers.
    nonisolated(nonsending) func head() async throws -> HTTPResponseHead {
        try await withCheckedThrowingContinuation { continuation in
            let ready: Result<HTTPResponseHead, any Error>? = lock.withLock {
                if let responseHead { return responseHead }
                headWaiter = continuation
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }

    /// The body parts that arrived since the last call (at least one; waits for it), or nil after
    /// the last one. Throws when the backend failed.
    nonisolated(nonsending) func next() async throws -> [ByteBuffer]? {
        try await withCheckedThrowingContinuation { continuation in
            let (ready, release) = lock.withLock { () -> (Result<[ByteBuffer]?, any Error>?, EventLoopPromise<Void>?) in
                if !parts.isEmpty {
                    defer { parts.removeAll(keepingCapacity: true) }
                    defer { demand = nil }
                    return (.success(parts), demand)
                }
                if let ended {
                    if let error = ended { return (.failure(error), nil) }
                    return (.success(nil), nil)
                }
                partWaiter = continuation
                return (nil, nil)
            }
            release?.succeed(())
            if let ready { continuation.resume(with: ready) }
        }
    }

    /// The whole body (at most `limit` bytes).
    nonisolated(nonsending) func collect(upTo limit: Int) async throws -> ByteBuffer {
        var body = ByteBuffer()
        while let parts = try await next() {
            for var part in parts {
                guard body.readableBytes + part.readableBytes <= limit else {
                    cancel()
                    throw BodyTooLarge()
                }
                if body.readableBytes == 0 { body = part } else { body.writeBuffer(&part) }
            }
        }
        return body
    }

    struct BodyTooLarge: Error {}

    // MARK: HTTPClientResponseDelegate (called on the exchange's event loop)

    func didReceiveHead(task: HTTPClient.Task<Void>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        let waiter = lock.withLock {
            responseHead = .success(head)
            defer { headWaiter = nil }
            return headWaiter
        }
        waiter?.resume(returning: head)
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Void>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        let (waiter, wait) = lock.withLock { () -> (CheckedContinuation<[ByteBuffer]?, any Error>?, EventLoopFuture<Void>?) in
            if let partWaiter {
                self.partWaiter = nil
                return (partWaiter, nil)
            }
            parts.append(buffer)
            guard parts.count > Self.highWatermark else { return (nil, nil) }
            let promise = task.eventLoop.makePromise(of: Void.self)
            demand = promise
            return (nil, promise.futureResult)
        }
        waiter?.resume(returning: [buffer])
        return wait ?? task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveError(task: HTTPClient.Task<Void>, _ error: any Error) {
        finish(.some(error))
    }

    func didFinishRequest(task: HTTPClient.Task<Void>) throws {
        finish(.none)
    }

    private func finish(_ error: (any Error)?) {
        let (head, headWaiter, partWaiter, release) = lock.withLock {
            () -> (
                Result<HTTPResponseHead, any Error>, CheckedContinuation<HTTPResponseHead, any Error>?,
                CheckedContinuation<[ByteBuffer]?, any Error>?, EventLoopPromise<Void>?
            ) in
            if ended == nil { ended = .some(error) }
            let head = responseHead ?? .failure(error ?? HTTPClientError.remoteConnectionClosed)
            responseHead = head
            defer {
                self.headWaiter = nil
                self.partWaiter = nil
                self.demand = nil
            }
            return (head, self.headWaiter, self.partWaiter, demand)
        }
        headWaiter?.resume(with: head)
        if let partWaiter {
            if let error { partWaiter.resume(throwing: error) } else { partWaiter.resume(returning: nil) }
        }
        release?.succeed(())
    }
}

/// An actor whose executor is one NIO event loop. A relayed call runs isolated to the caller's
/// connection's loop, so each `await` (the backend's head, its body) resumes on that thread rather
/// than on whichever thread Swift concurrency picks next: no cross-thread wake-ups on the hot path.
actor EventLoopBound {
    nonisolated let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    nonisolated var unownedExecutor: UnownedSerialExecutor { eventLoop.executor.asUnownedSerialExecutor() }

    /// One actor per event loop (a process has as many loops as cores).
    private static let actors = NIOLockedValueBox<[ObjectIdentifier: EventLoopBound]>([:])

    static func actor(for eventLoop: any EventLoop) -> EventLoopBound {
        actors.withLockedValue { actors in
            if let existing = actors[ObjectIdentifier(eventLoop)] { return existing }
            let created = EventLoopBound(eventLoop)
            actors[ObjectIdentifier(eventLoop)] = created
            return created
        }
    }
}
