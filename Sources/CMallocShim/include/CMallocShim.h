#ifndef STARLING_CMALLOC_SHIM_H
#define STARLING_CMALLOC_SHIM_H

/// Returns free heap memory to the operating system where the C library can (glibc's
/// malloc_trim); a no-op elsewhere.
void starling_release_free_memory(void);

#endif
