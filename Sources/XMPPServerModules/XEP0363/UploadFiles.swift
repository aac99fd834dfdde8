import Crypto
import Foundation
import XMPPCore
import XMPPServer

/// A slot's random id: 128 bits as 32 lower-case hex digits, unguessable (XEP-0363 §8) and
/// the only thing about a slot that becomes part of a file system path.
enum UploadSlotID {
    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        return Base16.encode((0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    static func isValid(_ id: String) -> Bool {
        id.utf8.count == 32 && id.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }
}

enum UploadFileError: Error, Equatable {
    /// The body went past the size of the slot.
    case tooLarge
    /// The body ended before the size of the slot.
    case incomplete
    case io(String)
}

/// The files of the upload service: `<root>/<slot id>/content`, written first as
/// `content.part` and renamed when complete, so a half-written file is never served.
struct UploadFiles: Sendable {
    let root: String

    func directory(_ slot: String) -> String? {
        UploadSlotID.isValid(slot) ? "\(self.root)/\(slot)" : nil
    }

    func contentPath(_ slot: String) -> String? {
        self.directory(slot).map { "\($0)/content" }
    }

    func prepareRoot() throws {
        try FileManager.default.createDirectory(atPath: self.root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }

    /// Removes the slot's directory and all in it; nothing to remove is fine.
    func remove(_ slot: String) {
        guard let directory = self.directory(slot) else { return }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Streams `body` into the slot's file: exactly `size` bytes, or nothing is kept.
    /// `progress` is called after each chunk written.
    func write(_ slot: String, size: Int, body: ModuleHTTPRequestBody, progress: @Sendable () -> Void = {}) async throws(UploadFileError) {
        guard let directory = self.directory(slot) else { throw .io("bad slot id") }
        let partial = "\(directory)/content.part"
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        } catch {
            // A directory left by an upload that failed before is reused; its .part goes below.
            guard FileManager.default.fileExists(atPath: directory) else { throw .io("cannot create the slot directory") }
        }
        unlink(partial)
        let descriptor = open(partial, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw .io("cannot create the file: errno \(errno)") }
        var written = 0
        do {
            for try await chunk in body {
                guard written + chunk.count <= size else { throw UploadFileError.tooLarge }
                try chunk.withUnsafeBytes { bytes in try Self.writeAll(descriptor, bytes) }
                written += chunk.count
                progress()
            }
            guard written == size else { throw UploadFileError.incomplete }
            guard close(descriptor) == 0 else {
                unlink(partial)
                throw UploadFileError.io("close failed: errno \(errno)")
            }
        } catch {
            close(descriptor)
            unlink(partial)
            if let error = error as? UploadFileError { throw error }
            // The stream failed: the client went away in the middle of its body.
            throw .incomplete
        }
        guard rename(partial, "\(directory)/content") == 0 else {
            unlink(partial)
            throw .io("rename failed: errno \(errno)")
        }
    }

    private static func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) throws {
        guard var pointer = bytes.baseAddress else { return }
        var remaining = bytes.count
        while remaining > 0 {
            let count = Foundation.write(descriptor, pointer, remaining)
            if count < 0 {
                if errno == EINTR { continue }
                throw UploadFileError.io("write failed: errno \(errno)")
            }
            remaining -= count
            pointer += count
        }
    }

    /// The slot's file opened for reading `count` bytes from `offset`; nil when it is gone or
    /// shorter than that.
    func reader(_ slot: String, offset: Int, count: Int) -> UploadFileReader? {
        guard let path = self.contentPath(slot) else { return nil }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        var status = stat()
        guard fstat(descriptor, &status) == 0, Int(status.st_size) >= offset + count else {
            close(descriptor)
            return nil
        }
        return UploadFileReader(descriptor: descriptor, offset: offset)
    }
}

/// Reads a stored file from an offset for a streamed response. Used by one task at a time
/// (the response writer), which is why it needs no lock of its own beyond the offset's.
final class UploadFileReader: ModuleHTTPBodySource, @unchecked Sendable {
    private let descriptor: Int32
    private var offset: Int
    private var closed = false

    init(descriptor: Int32, offset: Int) {
        self.descriptor = descriptor
        self.offset = offset
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return 0 }
        while true {
            let count = pread(self.descriptor, base, buffer.count, off_t(self.offset))
            if count < 0 {
                if errno == EINTR { continue }
                throw UploadFileError.io("read failed: errno \(errno)")
            }
            self.offset += count
            return count
        }
    }

    func close() {
        guard !self.closed else { return }
        self.closed = true
        _ = Foundation.close(self.descriptor)
    }

    deinit { self.close() }
}
