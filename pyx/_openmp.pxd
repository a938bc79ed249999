# OpenMP behind one header-only shim (scikit-learn's pattern): no module
# includes omp.h directly, and the library still builds, serially, without it.
cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define CONVOLVE_HAVE_OPENMP 1
    #else
    #define CONVOLVE_HAVE_OPENMP 0
    static int omp_get_max_threads(void) { return 1; }
    static int omp_get_thread_num(void) { return 0; }
    static int omp_get_num_procs(void) { return 1; }
    #endif
    """
    bint CONVOLVE_HAVE_OPENMP
    int omp_get_max_threads() noexcept nogil
    int omp_get_thread_num() noexcept nogil
    int omp_get_num_procs() noexcept nogil
