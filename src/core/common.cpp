// common.cpp: thread-count resolution, the interrupt check, the memory budget
// and message formatting shared by the core.
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

namespace detail {
std::atomic<InterruptCheck> g_interrupt_check{nullptr};
}  // namespace detail

namespace {
std::atomic<uint64_t> g_memory_limit{0};
}  // namespace

// Installs the process-wide interrupt check (null removes it).
void SetInterruptCheck(InterruptCheck check) {
    detail::g_interrupt_check.store(check, std::memory_order_relaxed);
}

// Throws Interrupted if the interrupt check asks to stop.
void ThrowIfInterrupted(const char* what) {
    if (InterruptRequested()) throw Interrupted(std::string(what) + " cancelled");
}

// Throws Interrupted if a Poll() saw a request.
void StopFlag::ThrowIfStopped(const char* what) const {
    if (stopped()) throw Interrupted(std::string(what) + " cancelled");
}

// Sets the process-wide memory budget in bytes (0 = unlimited).
void SetMemoryLimit(uint64_t bytes) { g_memory_limit.store(bytes, std::memory_order_relaxed); }

// The process-wide memory budget in bytes (0 = unlimited).
uint64_t MemoryLimitBytes() { return g_memory_limit.load(std::memory_order_relaxed); }

// True if an estimate of `bytes` fits in the budget.
bool FitsMemory(double bytes) {
    const uint64_t limit = MemoryLimitBytes();
    return limit == 0 || bytes <= static_cast<double>(limit);
}

// Throws MemoryLimit if the estimate exceeds the budget.
void CheckMemory(double bytes, const std::string& what) {
    if (FitsMemory(bytes)) return;
    throw MemoryLimit(what + " needs an estimated " + FormatBytes(bytes) +
                      " of memory, more than the limit of " +
                      FormatBytes(static_cast<double>(MemoryLimitBytes())));
}

// Formats a byte count in human units (1 kB = 1024 bytes, as PostgreSQL does).
std::string FormatBytes(double bytes) {
    static const char* const kUnits[] = {"kB", "MB", "GB", "TB", "PB"};
    if (!(bytes >= 1024.0)) {
        return std::to_string(static_cast<long long>(bytes > 0.0 ? bytes : 0.0)) + " bytes";
    }
    double v = bytes / 1024.0;
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < sizeof(kUnits) / sizeof(kUnits[0])) {
        v /= 1024.0;
        ++u;
    }
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.1f %s", v, kUnits[u]);
    return std::string(buf);
}

// Formats a double compactly for messages (%g).
double SecondsSince(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string FormatDouble(double value) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%g", value);
    return std::string(buf);
}

}  // namespace raid
