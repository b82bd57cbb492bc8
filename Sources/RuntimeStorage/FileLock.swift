#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// An exclusive advisory lock (`flock`) on a file, held until `unlock()` or the end of the process.
/// The kernel releases it when the process dies, `kill -9` included, so a crashed runtime never
/// leaves a stale lock behind.
final class FileLock: Sendable {
    let path: String
    private let descriptor: Mutex<Int32>

    /// The lock is held by another process (or another open file in this one).
    struct Held: Error { let path: String }

    /// Creates `path` if needed and locks it without waiting; throws `Held` when it is locked already.
    init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StoreError.lockFailed(path: path, reason: String(cString: strerror(errno))) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            close(fd)
            if code == EWOULDBLOCK { throw Held(path: path) }
            throw StoreError.lockFailed(path: path, reason: String(cString: strerror(code)))
        }
        descriptor = Mutex(fd)
    }

    /// Releases the lock (idempotent).
    func unlock() {
        descriptor.withLock { fd in
            guard fd >= 0 else { return }
            _ = flock(fd, LOCK_UN)
            close(fd)
            fd = -1
        }
    }

    deinit { unlock() }
}
