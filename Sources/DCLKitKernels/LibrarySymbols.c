// Symbol lookup in the shared library that defines a known function (see DCLKitKernels.h).

#define _GNU_SOURCE
#include "DCLKitKernels.h"

#include <dlfcn.h>

void *dclk_symbol_beside(const void *known, const char *name) {
    Dl_info info;
    if (!dladdr(known, &info) || !info.dli_fname) return NULL;
    void *library = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
    if (!library) return NULL;
    void *symbol = dlsym(library, name);
    dlclose(library);  // RTLD_NOLOAD took a reference to a library that stays loaded
    return symbol;
}
