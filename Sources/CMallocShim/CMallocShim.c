#include "CMallocShim.h"

#if defined(__GLIBC__)
#include <malloc.h>
void starling_release_free_memory(void) { malloc_trim(0); }
#else
void starling_release_free_memory(void) {}
#endif
