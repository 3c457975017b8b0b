// common.cpp: thread-count resolution and message formatting shared by the core.
#include "common.h"

#include <cstdio>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace raid {

// Resolves a thread count option: 0 means OpenMP's default, otherwise the value.
int ResolveThreads(int threads) {
    if (threads > 0) return threads;
#ifdef _OPENMP
    const int n = omp_get_max_threads();
    return n > 0 ? n : 1;
#else
    return 1;
#endif
}

// Index of the calling thread in the current OpenMP team (0 outside a region).
int ThreadIndex() {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

// Stores the first captured exception (serialised across threads).
void ParallelErrors::Capture(std::exception_ptr e) noexcept {
#pragma omp critical(raid_parallel_errors)
    {
        if (!error_) error_ = e;
        failed_ = true;
    }
}

// Formats a double compactly for messages (%g).
std::string FormatDouble(double value) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%g", value);
    return std::string(buf);
}

}  // namespace raid
