// OpenBLAS's cblas.h: cblas_* routines plus openblas_set_num_threads and friends.
#include <cblas.h>
