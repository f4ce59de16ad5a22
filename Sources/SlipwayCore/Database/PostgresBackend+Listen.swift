import PostgresNIO

extension PostgresBackend {
    /// Holds one pooled connection that `LISTEN`s on `channel` until the task is cancelled or
    /// the connection fails (then it throws; the caller reconnects). `connected` runs once the
    /// listener is in place (whatever was sent before is lost: catch up there); `received` gets
    /// each notification's payload, in the order the sending transactions committed.
    public func listen(on channel: String, connected: @Sendable () async -> Void,
                       received: @Sendable (String) async -> Void) async throws {
        try await withConnection("listen \(channel)") { connection in
            try await connection.listen(on: channel) { notifications in
                await connected()
                for try await notification in notifications {
                    await received(notification.payload)
                }
            }
        }
    }

    /// Whether `error` is PostgreSQL's unique violation (SQLSTATE 23505): a conditional write
    /// lost to a concurrent one that a unique index let through first.
    public static func isUniqueViolation(_ error: any Error) -> Bool {
        (error as? PSQLError)?.serverInfo?[.sqlState] == "23505"
    }
}
