#define _GNU_SOURCE
#include "CMallocShim.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__GLIBC__)
#include <malloc.h>
void starling_release_free_memory(void) { malloc_trim(0); }
#else
void starling_release_free_memory(void) {}
#endif

const size_t starling_buffer_page_threshold = 16 * 1024;

// Every buffer is preceded by a header: the length of its own mapping, or 0 when it came from
// malloc. Sixteen bytes keep the buffer as aligned as malloc's.
#define HEADER_BYTES ((size_t)16)

static size_t page_size(void) {
    static size_t cached = 0;
    if (cached == 0) {
        long reported = sysconf(_SC_PAGESIZE);
        cached = reported > 0 ? (size_t)reported : 4096;
    }
    return cached;
}

static size_t mapping_length(size_t size) {
    size_t page = page_size();
    return (size + HEADER_BYTES + page - 1) / page * page;
}

static void *header_of(void *pointer) { return (char *)pointer - HEADER_BYTES; }

static void *from_heap(size_t size) {
    size_t *header = malloc(size + HEADER_BYTES);
    if (header == NULL) return NULL;
    header[0] = 0;
    return (char *)header + HEADER_BYTES;
}

void *starling_buffer_allocate(size_t size) {
    if (size < starling_buffer_page_threshold) return from_heap(size);
    size_t length = mapping_length(size);
    void *mapping = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    // Out of mappings (vm.max_map_count) is no reason to fail an allocation the heap can serve.
    if (mapping == MAP_FAILED) return from_heap(size);
    ((size_t *)mapping)[0] = length;
    return (char *)mapping + HEADER_BYTES;
}

void starling_buffer_deallocate(void *_Nonnull pointer) {
    if (pointer == NULL) return;
    size_t *header = header_of(pointer);
    if (header[0] == 0) {
        free(header);
    } else {
        munmap(header, header[0]);
    }
}

void *starling_buffer_reallocate(void *pointer, size_t old_size, size_t new_size) {
    if (pointer == NULL) return starling_buffer_allocate(new_size);
    size_t *header = header_of(pointer);
    if (header[0] == 0 && new_size < starling_buffer_page_threshold) {
        size_t *moved = realloc(header, new_size + HEADER_BYTES);
        return moved == NULL ? NULL : (char *)moved + HEADER_BYTES;
    }
    if (header[0] != 0 && new_size >= starling_buffer_page_threshold) {
        size_t length = mapping_length(new_size);
        if (length == header[0]) return pointer;
#if defined(__linux__)
        void *moved = mremap(header, header[0], length, MREMAP_MAYMOVE);
        if (moved != MAP_FAILED) {
            ((size_t *)moved)[0] = length;
            return (char *)moved + HEADER_BYTES;
        }
#endif
    }
    // Between heap and pages: move the bytes over.
    void *fresh = starling_buffer_allocate(new_size);
    if (fresh == NULL) return NULL;
    memcpy(fresh, pointer, old_size < new_size ? old_size : new_size);
    starling_buffer_deallocate(pointer);
    return fresh;
}

void starling_buffer_copy(void *_Nonnull destination, const void *_Nonnull source, size_t count) {
    memcpy(destination, source, count);
}
