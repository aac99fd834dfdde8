import CMallocShim
import NIOCore
import Testing
@testable import XMPPServer

@Suite("Byte buffers on pages of their own")
struct PagedBufferAllocatorTests {
    private static func pattern(_ count: Int, seed: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed) }
    }

    @Test("small and large buffers keep their bytes, however they grow", arguments: [16, 1_000, 16_384, 40_000])
    func growth(_ initialCapacity: Int) {
        var buffer = ByteBufferAllocator.paged.buffer(capacity: initialCapacity)
        var written: [UInt8] = []
        // Crosses the page threshold upwards and then between mapping sizes.
        for (round, size) in [100, 20_000, 50_000, 3].enumerated() {
            let chunk = Self.pattern(size, seed: round)
            buffer.writeBytes(chunk)
            written += chunk
        }
        #expect(buffer.readableBytesView.elementsEqual(written))
    }

    @Test("giving free pages back leaves live buffers alone, and freed mappings are reused intact")
    func releaseKeepsLiveBuffers() {
        var freed: [ByteBuffer] = (0..<8).map { _ in ByteBufferAllocator.paged.buffer(capacity: 32_768) }
        for index in freed.indices { freed[index].writeBytes(Self.pattern(20_000, seed: index)) }
        var live = ByteBufferAllocator.paged.buffer(capacity: 32_768)
        live.writeBytes(Self.pattern(32_768, seed: 99))
        freed.removeAll()
        starling_release_free_memory()
        #expect(live.readableBytesView.elementsEqual(Self.pattern(32_768, seed: 99)))
        // New buffers come from the released mappings and work like fresh ones.
        var reused: [ByteBuffer] = (0..<8).map { _ in ByteBufferAllocator.paged.buffer(capacity: 32_768) }
        for index in reused.indices { reused[index].writeBytes(Self.pattern(32_768, seed: index + 7)) }
        for index in reused.indices {
            #expect(reused[index].readableBytesView.elementsEqual(Self.pattern(32_768, seed: index + 7)))
        }
    }

    @Test("copy-on-write of a large buffer copies its bytes")
    func copyOnWrite() {
        var original = ByteBufferAllocator.paged.buffer(capacity: 20_000)
        original.writeBytes(Self.pattern(18_000, seed: 3))
        var copy = original
        copy.writeBytes([1, 2, 3])
        #expect(original.readableBytes == 18_000)
        #expect(copy.readableBytesView.elementsEqual(Self.pattern(18_000, seed: 3) + [1, 2, 3]))
    }
}
