// common.h: shared vocabulary of raid's C++ core.
//
// Vocabulary:
//   typed exception  every error the core reports derives from std::runtime_error
//                    and has one of four types; the C ABI (src/capi) maps each
//                    type to a status code and the glue maps that to a SQLSTATE:
//                      InvalidArgument  a bad option or argument        (22023)
//                      DataError        the input data cannot be used   (22000)
//                      LimitExceeded    a size limit was hit            (54000)
//                      MemoryLimit      an operation's estimated memory
//                                       exceeds the memory budget       (53200)
//                      Interrupted      a cancellation check said stop
//   interrupt check  a process-wide callback (SetInterruptCheck) that every
//                    long loop polls through InterruptRequested(), from any
//                    thread; once it returns nonzero the loop stops and the
//                    operation throws Interrupted.  Inside an OpenMP region a
//                    loop records the request in a StopFlag, skips its
//                    remaining iterations and throws after the region
//   memory budget    a process-wide limit in bytes (SetMemoryLimit, 0 =
//                    unlimited) on one operation's estimated working set;
//                    every operation estimates its big buffers before it
//                    allocates them and calls CheckMemory()
//   key              a 64-bit value derived from (seed, tag, counters...) by a
//                    counter-based hash; every random choice in the core starts
//                    from a key, so results never depend on thread scheduling
//   stream           an Rng seeded with a key: a short sequence of draws that
//                    belongs to one unit of work (one user, one sample, ...)
//
// The core never includes a PostgreSQL header, never prints and never aborts.
#ifndef RAID_CORE_COMMON_H
#define RAID_CORE_COMMON_H

#include <cmath>
#include <cstddef>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <limits>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

namespace raid {

// A bad option or argument (the message names it).
class InvalidArgument : public std::runtime_error {
  public:
    explicit InvalidArgument(const std::string& what) : std::runtime_error(what) {}
};

// Input data that cannot be used (empty, non-finite, diverged training).
class DataError : public std::runtime_error {
  public:
    explicit DataError(const std::string& what) : std::runtime_error(what) {}
};

// A size limit was exceeded (more than INT32_MAX items, too many interactions).
class LimitExceeded : public std::runtime_error {
  public:
    explicit LimitExceeded(const std::string& what) : std::runtime_error(what) {}
};

// Work stopped because a cancellation callback asked for it.
class Interrupted : public std::runtime_error {
  public:
    explicit Interrupted(const std::string& what) : std::runtime_error(what) {}
};

// An operation's estimated memory exceeds the process-wide budget (the
// message gives the estimate and the limit).
class MemoryLimit : public std::runtime_error {
  public:
    explicit MemoryLimit(const std::string& what) : std::runtime_error(what) {}
};

// The interrupt check: returns nonzero once work should stop.  It is called
// from any thread, including inside parallel regions, so it may only read flags.
using InterruptCheck = int (*)();

// Installs the process-wide interrupt check (null removes it).
void SetInterruptCheck(InterruptCheck check);

namespace detail {
extern std::atomic<InterruptCheck> g_interrupt_check;
}  // namespace detail

// True if the interrupt check asks to stop: one atomic load and, if a check
// is installed, one call.  Cheap enough to poll per user, per positive, per
// Sinkhorn iteration or per minibatch.
inline bool InterruptRequested() {
    const InterruptCheck check = detail::g_interrupt_check.load(std::memory_order_relaxed);
    return check != nullptr && check() != 0;
}

// Throws Interrupted("<what> cancelled") if the interrupt check asks to stop.
// Never call it inside an OpenMP region (use a StopFlag there).
void ThrowIfInterrupted(const char* what);

// The interrupt state of one parallel region: threads Poll() it inside their
// loops and skip the remaining iterations once it returns true; the owner
// calls ThrowIfStopped() after the region.  Once one thread saw a request,
// the others stop without calling the check again.
class StopFlag {
  public:
    // True if work should stop (polls the interrupt check unless already stopped).
    bool Poll() noexcept {
        if (stop_.load(std::memory_order_relaxed)) return true;
        if (!InterruptRequested()) return false;
        stop_.store(true, std::memory_order_relaxed);
        return true;
    }

    // True once a Poll() saw a request (no new poll).
    bool stopped() const noexcept { return stop_.load(std::memory_order_relaxed); }

    // Throws Interrupted("<what> cancelled") if a Poll() saw a request.
    void ThrowIfStopped(const char* what) const;

  private:
    std::atomic<bool> stop_{false};
};

// Sets the process-wide memory budget in bytes (0 = unlimited).
void SetMemoryLimit(uint64_t bytes);

// The process-wide memory budget in bytes (0 = unlimited).
uint64_t MemoryLimitBytes();

// True if an estimate of `bytes` fits in the budget.
bool FitsMemory(double bytes);

// Throws MemoryLimit ("<what> needs an estimated 12.4 GB of memory, more than
// the limit of 6.0 GB") if the estimate exceeds the budget.  Estimates are
// doubles so that products of large sizes cannot overflow.
void CheckMemory(double bytes, const std::string& what);

// Formats a byte count in human units (bytes, kB, MB, GB, TB; 1 kB = 1024 bytes).
std::string FormatBytes(double bytes);

// Tags that separate the key spaces of different random choices: every random
// stream of raid, each the ASCII of a short word, all distinct.
// The list (X(name, value)) generates the enum and the check below.
#define RAID_RANDOM_TAGS(X) \
    X(kTagHoldout, 0x686f6c646f7574ULL) \
    X(kTagInitUser, 0x696e697475ULL) \
    X(kTagInitItem, 0x696e697469ULL) \
    X(kTagShuffle, 0x73687566ULL) \
    X(kTagNegative, 0x6e6567ULL) \
    X(kTagStratum, 0x7374726174ULL) \
    X(kTagSynClass, 0x73636c73ULL) \
    X(kTagSynCount, 0x73636e74ULL) \
    X(kTagSynUser, 0x73757372ULL) \
    X(kTagSynItem, 0x73697465ULL) \
    X(kTagSynAffinity, 0x73616666ULL) \
    X(kTagSynPopularity, 0x73706f70ULL) \
    X(kTagSynGumbel, 0x7367756dULL) \
    X(kTagAttribute, 0x61747472ULL) \
    X(kTagSynCluster, 0x73636c75ULL) \
    X(kTagDefenseSample, 0x64736d70ULL) \
    X(kTagDefenseProbe, 0x6470726fULL) \
    X(kTagDefenseSupport, 0x64737570ULL) \
    X(kTagNullDraws, 0x6e756c6cULL) \
    X(kTagFold, 0x666f6c64ULL) \
    X(kTagBalance, 0x62616c616e6365ULL) \
    X(kTagValidation, 0x76616c6964ULL) \
    X(kTagAttack, 0x61747461636bULL) \
    X(kTagMlpInit, 0x6d6c70696e6974ULL) \
    X(kTagMlpShuffle, 0x6d6c7073687566ULL) \
    X(kTagDpNoise, 0x64706e6f6973ULL) \
    X(kTagUnlearn, 0x756e6c726eULL) \
    X(kTagAdversary, 0x616476ULL) \
    X(kTagFoldIn, 0x666f6c64696eULL)
// Commented streams:
//   kTagAttribute: the defense of a second or later protected attribute
//   kTagSynCluster: synthetic: the nonlinear kind's clusters
//   kTagDefenseSample: defense: the users sampled for the barycenter
//   kTagDefenseProbe: defense: the probe users of the scale
//   kTagDefenseSupport: defense: the barycenter's initial support
//   kTagNullDraws: the final step's fresh targets
//   kTagFold: audit: test folds
//   kTagBalance: audit: downsampling of training sets
//   kTagValidation: audit: the MLP's early-stopping holdout
//   kTagAttack: audit: seed of one (attacker, fold) task
//   kTagMlpInit: audit: MLP initial weights
//   kTagFoldIn: fold-in: a user's initial embedding, order and negatives
//   kTagMlpShuffle: audit: MLP minibatch order
//   kTagDpNoise: defense 'dp': the noise of one user's row
//   kTagUnlearn: defense 'unlearn': the bandwidth's sample and each step's draw
//   kTagAdversary: defense 'adversarial': the adversary's weights and epoch orders
enum RandomTag : uint64_t {
#define RAID_TAG_ENUM_(name, value) name = value,
    RAID_RANDOM_TAGS(RAID_TAG_ENUM_)
#undef RAID_TAG_ENUM_
};

// True if no two tags are equal (checked at compile time below).
constexpr bool RandomTagsDistinct() {
#define RAID_TAG_VALUE_(name, value) value,
    constexpr uint64_t tags[] = {RAID_RANDOM_TAGS(RAID_TAG_VALUE_)};
#undef RAID_TAG_VALUE_
    for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); ++i)
        for (size_t k = i + 1; k < sizeof(tags) / sizeof(tags[0]); ++k)
            if (tags[i] == tags[k]) return false;
    return true;
}
static_assert(RandomTagsDistinct(), "two random-stream tags are equal");

// SplitMix64 finaliser (Steele, Lea & Flood, "Fast splittable pseudorandom
// number generators", OOPSLA 2014): a bijective 64-bit mixer.
inline uint64_t Mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

// Hashes a key and one counter into a new key.
inline uint64_t Key(uint64_t a, uint64_t b) { return Mix64(a ^ Mix64(b)); }

// Hashes a key and two counters into a new key.
inline uint64_t Key(uint64_t a, uint64_t b, uint64_t c) { return Key(Key(a, b), c); }

// Hashes a key and three counters into a new key.
inline uint64_t Key(uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
    return Key(Key(Key(a, b), c), d);
}

// A SplitMix64 stream: cheap, seedable from a key, good enough for sampling.
class Rng {
  public:
    explicit Rng(uint64_t key) : state_(key) {}

    // Next 64 random bits.
    uint64_t Next() {
        state_ += 0x9e3779b97f4a7c15ULL;
        uint64_t z = state_;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }

    // Uniform integer in [0, n) for n >= 1 (Lemire's multiply-shift; the bias
    // is below n / 2^64, negligible for n < 2^32).
    uint64_t Below(uint64_t n) {
        return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * n) >> 64);
    }

    // Uniform double in the open interval (0, 1).
    double Uniform() { return (static_cast<double>(Next() >> 11) + 0.5) * 0x1.0p-53; }

    // Uniform float in the open interval (0, 1).
    float UniformFloat() { return (static_cast<float>(Next() >> 40) + 0.5f) * 0x1.0p-24f; }

    // Standard normal draw (Box-Muller, one of the pair).
    double Normal() {
        const double u1 = Uniform();
        const double u2 = Uniform();
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
    }

  private:
    uint64_t state_;
};

// Standard normal draw that is a pure function of a key.
inline double NormalFromKey(uint64_t key) {
    Rng rng(key);
    return rng.Normal();
}

// Allocator whose blocks start on a 64-byte cache-line boundary, so that rows
// of a table written by several threads do not share lines needlessly.
template <typename T>
struct CacheAlignedAllocator {
    using value_type = T;
    static constexpr std::size_t kAlign = 64;

    CacheAlignedAllocator() noexcept = default;
    template <typename U>
    CacheAlignedAllocator(const CacheAlignedAllocator<U>&) noexcept {}

    // Allocates n objects (throws std::bad_alloc).
    T* allocate(std::size_t n) {
        if (n > std::numeric_limits<std::size_t>::max() / sizeof(T)) throw std::bad_alloc();
        return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(kAlign)));
    }

    // Frees a block from allocate().
    void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t(kAlign)); }

    template <typename U>
    bool operator==(const CacheAlignedAllocator<U>&) const noexcept {
        return true;
    }
    template <typename U>
    bool operator!=(const CacheAlignedAllocator<U>&) const noexcept {
        return false;
    }
};

// A float array aligned to a cache line.
using AlignedFloats = std::vector<float, CacheAlignedAllocator<float>>;

// Resolves a thread count option: 0 means OpenMP's default, otherwise the value.
int ResolveThreads(int threads);

// Index of the calling thread in the current OpenMP team (0 outside a region).
int ThreadIndex();

// Holds the first exception thrown inside an OpenMP region.  An exception
// must never leave a parallel region (that calls std::terminate), so code that
// may throw there (allocation inside Eigen, for instance) runs through Run(),
// and the owner calls Rethrow() once the region has ended.
class ParallelErrors {
  public:
    // Runs f, capturing any exception instead of letting it escape.
    template <typename F>
    void Run(F&& f) noexcept {
        if (failed_) return;  // a benign race: at worst one more unit of work runs
        try {
            f();
        } catch (...) {
            Capture(std::current_exception());
        }
    }

    // True once an exception was captured.
    bool failed() const { return failed_; }

    // Rethrows the captured exception, if any (call outside the region).
    void Rethrow() const {
        if (error_) std::rethrow_exception(error_);
    }

  private:
    void Capture(std::exception_ptr e) noexcept;

    std::exception_ptr error_;
    volatile bool failed_ = false;
};

// Formats a double compactly for messages (%g).
std::string FormatDouble(double value);

// Wall-clock seconds since t0 (steady clock).
double SecondsSince(std::chrono::steady_clock::time_point t0);

}  // namespace raid

#endif  // RAID_CORE_COMMON_H
