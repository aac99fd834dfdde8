import CMallocShim
@_spi(CustomByteBufferAllocator) import NIOCore

extension ByteBufferAllocator {
    /// Byte buffers of 16 KiB and more on pages of their own (see `CMallocShim.h`): an idle TLS
    /// connection's 48 KiB of buffers then costs the few pages it wrote, not what the heap
    /// around them had dirtied. Set on every connection's channel.
    static let paged = ByteBufferAllocator(
        allocate: starling_buffer_allocate,
        reallocate: starling_buffer_reallocate,
        deallocate: starling_buffer_deallocate,
        copy: starling_buffer_copy
    )
}
