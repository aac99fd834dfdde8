import Foundation

/// A child process started with `posix_spawn`, for tests that run the real `starling` binary.
///
/// Foundation's `Process` in the Swift 6.3 toolchain scans /proc/self/fd with a whole-`dirent`
/// copy that can read past the end of glibc's buffer and crash the parent with SIGSEGV
/// (swift-corelibs-foundation #5472, fixed after 6.3). The test process holds over a thousand
/// descriptors while the suites run in parallel, which is where a CI run crashed.
struct SpawnedProcess: Sendable {
    let pid: pid_t
    /// The parent's end of the child's standard input, or nil when it reads /dev/null.
    let standardInput: Int32?
    /// The parent's end of the child's standard output, or nil when it writes to /dev/null.
    let standardOutput: Int32?

    struct Failure: Error, CustomStringConvertible { let description: String }

    /// Starts `executable` with `arguments`; standard error always goes to /dev/null. Every
    /// other descriptor of the test process is closed in the child.
    static func spawn(_ executable: String, _ arguments: [String], pipeInput: Bool = false, pipeOutput: Bool = false) throws -> SpawnedProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var childEnds: [Int32] = []
        defer { for descriptor in childEnds { close(descriptor) } }

        func pipeEnds() throws -> (read: Int32, write: Int32) {
            var ends: [Int32] = [0, 0]
            guard pipe(&ends) == 0 else { throw Failure(description: "pipe failed: errno \(errno)") }
            for descriptor in ends { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
            return (ends[0], ends[1])
        }
        var input: Int32?
        if pipeInput {
            let ends = try pipeEnds()
            childEnds.append(ends.read)
            input = ends.write
            posix_spawn_file_actions_adddup2(&actions, ends.read, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        var output: Int32?
        if pipeOutput {
            let ends = try pipeEnds()
            childEnds.append(ends.write)
            output = ends.read
            posix_spawn_file_actions_adddup2(&actions, ends.write, 1)
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        }
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        // NIO's sockets are not close-on-exec: without this the child would hold other tests'
        // listeners and connections open.
        if let closeFrom = Self.addCloseFrom { _ = closeFrom(&actions, 3) }

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard status == 0 else {
            if let input { close(input) }
            if let output { close(output) }
            throw Failure(description: "posix_spawn \(executable) failed: \(String(cString: strerror(status)))")
        }
        return SpawnedProcess(pid: pid, standardInput: input, standardOutput: output)
    }

    /// glibc 2.34's `posix_spawn_file_actions_addclosefrom_np`, which the Glibc module does not
    /// import (it is declared only under _GNU_SOURCE).
    private static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    /// Writes `text` to the child's standard input and closes it.
    func finishInput(_ text: String) {
        guard let standardInput else { return }
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(standardInput, $0.baseAddress, $0.count) }
            if written <= 0 { break }
            offset += written
        }
        close(standardInput)
    }

    /// Reads standard output (blocking, on a thread of its own) until a line satisfies
    /// `isWanted` or the child closes it. The thread then drains the output until the child
    /// ends, so a server that logs later never meets a closed pipe (SIGPIPE would kill it).
    func firstOutputLine(where isWanted: @escaping @Sendable (Substring) -> Bool) async -> String? {
        guard let standardOutput else { return nil }
        return await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                defer { close(standardOutput) }
                var text = ""
                var answered = false
                var buffer = [UInt8](repeating: 0, count: 4096)
                while true {
                    let count = buffer.withUnsafeMutableBytes { read(standardOutput, $0.baseAddress, $0.count) }
                    if count <= 0 { break }
                    guard !answered else { continue }
                    text += String(decoding: buffer[0..<count], as: UTF8.self)
                    if let line = text.split(separator: "\n").first(where: isWanted) {
                        continuation.resume(returning: String(line))
                        answered = true
                    }
                }
                if !answered { continuation.resume(returning: nil) }
            }
        }
    }

    /// Waits for the child to end and returns its wait status.
    @discardableResult
    func waitForExit() -> Int32 {
        var status: Int32 = 0
        while waitpid(self.pid, &status, 0) == -1 && errno == EINTR {}
        return status
    }

    func kill(_ signal: Int32 = SIGKILL) {
        Foundation.kill(self.pid, signal)
    }
}
