#define _GNU_SOURCE
#include "CMallocShim.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <pthread.h>

// Requests at or above this many bytes are mapped on their own pages.
static const size_t starling_buffer_page_threshold = 16 * 1024;

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

// Freed mappings are kept for the next connection instead of being unmapped: a map and an
// unmap per buffer cost a login about a tenth of its CPU (VMA splits, TLB shootdowns). Kept
// mappings give their pages back in `starling_release_free_memory`.
#define CACHED_PAGE_COUNTS 16
#define CACHE_LIMIT 4096

struct mapping_cache {
    void **mappings;
    size_t count;
    size_t capacity;
    // mappings[0 ..< released] have already given their pages back.
    size_t released;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mapping_cache caches[CACHED_PAGE_COUNTS + 1];

static struct mapping_cache *cache_for(size_t length) {
    size_t pages = length / page_size();
    return pages <= CACHED_PAGE_COUNTS ? &caches[pages] : NULL;
}

static void *take_cached(size_t length) {
    struct mapping_cache *cache = cache_for(length);
    if (cache == NULL) return NULL;
    void *mapping = NULL;
    pthread_mutex_lock(&cache_lock);
    if (cache->count > 0) {
        mapping = cache->mappings[--cache->count];
        if (cache->released > cache->count) cache->released = cache->count;
    }
    pthread_mutex_unlock(&cache_lock);
    return mapping;
}

static int keep_cached(void *mapping, size_t length) {
    struct mapping_cache *cache = cache_for(length);
    if (cache == NULL) return 0;
    int kept = 0;
    pthread_mutex_lock(&cache_lock);
    if (cache->count == cache->capacity && cache->capacity < CACHE_LIMIT) {
        size_t grown = cache->capacity == 0 ? 64 : cache->capacity * 2;
        void **larger = realloc(cache->mappings, grown * sizeof(void *));
        if (larger != NULL) {
            cache->mappings = larger;
            cache->capacity = grown;
        }
    }
    if (cache->count < cache->capacity) {
        cache->mappings[cache->count++] = mapping;
        kept = 1;
    }
    pthread_mutex_unlock(&cache_lock);
    return kept;
}

static void release_cached_pages(void) {
    for (size_t pages = 1; pages <= CACHED_PAGE_COUNTS; pages++) {
        struct mapping_cache *cache = &caches[pages];
        // A batch at a time, so allocations on other threads wait at most one batch.
        for (;;) {
            pthread_mutex_lock(&cache_lock);
            size_t end = cache->released + 256 < cache->count ? cache->released + 256 : cache->count;
            for (size_t index = cache->released; index < end; index++) {
                madvise(cache->mappings[index], pages * page_size(), MADV_DONTNEED);
            }
            int done = end == cache->count;
            cache->released = end;
            pthread_mutex_unlock(&cache_lock);
            if (done) break;
        }
    }
}

void starling_release_free_memory(void) {
    release_cached_pages();
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

void *starling_buffer_allocate(size_t size) {
    if (size < starling_buffer_page_threshold) return from_heap(size);
    size_t length = mapping_length(size);
    void *mapping = take_cached(length);
    if (mapping == NULL) {
        mapping = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        // Out of mappings (vm.max_map_count) is no reason to fail an allocation the heap can serve.
        if (mapping == MAP_FAILED) return from_heap(size);
    }
    ((size_t *)mapping)[0] = length;
    return (char *)mapping + HEADER_BYTES;
}

void starling_buffer_deallocate(void *_Nonnull pointer) {
    size_t *header = header_of(pointer);
    if (header[0] == 0) {
        free(header);
    } else if (!keep_cached(header, header[0])) {
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
    if (header[0] != 0 && mapping_length(new_size) == header[0]) return pointer;
    // Between heap and pages, or between sizes of mapping: move the bytes over.
    void *fresh = starling_buffer_allocate(new_size);
    if (fresh == NULL) return NULL;
    memcpy(fresh, pointer, old_size < new_size ? old_size : new_size);
    starling_buffer_deallocate(pointer);
    return fresh;
}

void starling_buffer_copy(void *_Nonnull destination, const void *_Nonnull source, size_t count) {
    memcpy(destination, source, count);
}
