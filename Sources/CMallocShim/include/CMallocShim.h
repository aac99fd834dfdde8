#ifndef STARLING_CMALLOC_SHIM_H
#define STARLING_CMALLOC_SHIM_H

#include <stddef.h>

/// Gives free memory back to the operating system: the pages of buffer mappings kept for
/// reuse, and free heap where the C library can (glibc's malloc_trim).
void starling_release_free_memory(void);

/// Byte-buffer storage where large buffers (16 KiB and more) take whole pages of their own.
///
/// TLS asks for a 32 KiB plaintext buffer and a 16 KiB ciphertext buffer per connection, of
/// which an idle connection only ever writes the first few hundred bytes. Taken from the heap,
/// such a buffer often lands on pages other allocations already dirtied (or leaves freed
/// neighbours there), so an idle connection pays for far more than it touches. Mapped on its
/// own, a buffer costs only the pages written. Small buffers still come from malloc. Freed
/// mappings are kept for reuse (up to a limit), their pages given back by
/// `starling_release_free_memory`.
/// NULL when memory is exhausted, as malloc; reallocate takes NULL as allocate does. These
/// are the nullabilities `ByteBufferAllocator` expects of its C functions.
void *_Nullable starling_buffer_allocate(size_t size);
void *_Nullable starling_buffer_reallocate(void *_Nullable pointer, size_t old_size, size_t new_size);
void starling_buffer_deallocate(void *_Nonnull pointer);
void starling_buffer_copy(void *_Nonnull destination, const void *_Nonnull source, size_t count);

#endif
