// mf.cpp: the block-scheduled row-wise Adagrad MF trainer described in mf.h.
#include "mf.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>

#include "../common.h"

namespace raid {

namespace {

constexpr int kNegativeRetries = 32;  // rejection-sampling tries per negative
constexpr float kAdagradEps = 1e-8f;  // added under the square root
constexpr const char* kWhat = "training";
constexpr int64_t kPollValues = int64_t{1} << 16;  // floats copied or drawn per poll

// Rows per poll when each row costs `dim` units of work.
int64_t RowsPerPoll(int64_t dim) { return std::max<int64_t>(1, kPollValues / std::max<int64_t>(dim, 1)); }

// True if every value is finite (polls the interrupt check between blocks).
bool AllFinite(const AlignedFloats& v) {
    const size_t n = v.size();
    for (size_t k0 = 0; k0 < n; k0 += static_cast<size_t>(kPollValues)) {
        ThrowIfInterrupted(kWhat);
        const size_t k1 = std::min(n, k0 + static_cast<size_t>(kPollValues));
        for (size_t k = k0; k < k1; ++k)
            if (!std::isfinite(v[k])) return false;
    }
    return true;
}

// Counting sort of the ids 0 .. n-1 by group: the ids of group g, ascending,
// end up in out[start[g] .. start[g+1]) (start has one entry per group, plus one).
void SortByGroup(const std::vector<int32_t>& group, std::vector<int32_t>* out,
                 std::vector<int64_t>* start) {
    std::vector<int64_t>& s = *start;
    std::fill(s.begin(), s.end(), 0);
    for (int32_t g : group) ++s[g + 1];                      // sizes
    for (size_t g = 1; g < s.size(); ++g) s[g] += s[g - 1];  // starts
    for (int32_t id = 0; id < static_cast<int32_t>(group.size()); ++id)
        (*out)[s[group[id]]++] = id;                            // s[g] becomes the end of g
    for (size_t g = s.size() - 1; g > 0; --g) s[g] = s[g - 1];  // back to the starts
    s[0] = 0;
}

}  // namespace

// Estimated bytes of a trainer's working set (see Memory in mf.h).
double MfTrainer::EstimateBytes(int64_t n_users, int64_t n_items, int64_t n_train, int32_t dim,
                                int threads) {
    const double rows = static_cast<double>(n_users) + static_cast<double>(n_items);
    const double stride = static_cast<double>((dim + 1 + 15) / 16 * 16);
    return 4.0 * rows * (stride + dim) + 8.0 * static_cast<double>(n_train) + 24.0 * rows +
           4.0 * threads * (dim + 32.0);
}

// Validates the options and initialises U and V ~ N(0, init_std^2) from the seed.
MfTrainer::MfTrainer(const Dataset& data, const MfOptions& options)
    : data_(data), options_(options) {
    options_.Validate();
    if (!data_.finalized()) throw InvalidArgument("dataset is not finalized");
    if (data_.n_train() == 0) throw DataError("no training interactions");
    threads_ = ResolveThreads(options_.threads);

    const int64_t dim = options_.dim;
    const int64_t nu = data_.n_users();
    const int64_t ni = data_.n_items();
    CheckMemory(EstimateBytes(nu, ni, data_.n_train(), options_.dim, threads_), kWhat);
    // Training tables: row r holds dim weights, then its Adagrad accumulator,
    // padded to whole cache lines (see row_stride_ in mf.h).
    row_stride_ = (dim + 1 + 15) / 16 * 16;
    user_rows_.assign(static_cast<size_t>(nu * row_stride_), 0.0f);
    item_rows_.assign(static_cast<size_t>(ni * row_stride_), 0.0f);
    const uint64_t seed = options_.seed;
    const double sd = options_.init_std;
    const int64_t S = row_stride_;
    const int64_t poll_rows = RowsPerPoll(dim);
    StopFlag stop;
#pragma omp parallel num_threads(threads_)
    {
#pragma omp for schedule(static)
        for (int64_t i = 0; i < nu; ++i) {
            if (i % poll_rows == 0 ? stop.Poll() : stop.stopped()) continue;
            Rng rng(Key(seed, kTagInitUser, static_cast<uint64_t>(i)));
            for (int64_t k = 0; k < dim; ++k)
                user_rows_[i * S + k] = static_cast<float>(sd * rng.Normal());
        }
#pragma omp for schedule(static)
        for (int64_t j = 0; j < ni; ++j) {
            if (j % poll_rows == 0 ? stop.Poll() : stop.stopped()) continue;
            Rng rng(Key(seed, kTagInitItem, static_cast<uint64_t>(j)));
            for (int64_t k = 0; k < dim; ++k)
                item_rows_[j * S + k] = static_cast<float>(sd * rng.Normal());
        }
    }
    stop.ThrowIfStopped(kWhat);
    U_.resize(static_cast<size_t>(nu * dim));
    V_.resize(static_cast<size_t>(ni * dim));
    Export();

    // Users and items by decreasing training count (ties by id): the ranks
    // that BeginEpoch() deals into groups.
    const auto& indptr = data_.train_indptr();
    const auto& indices = data_.train_indices();
    std::vector<int64_t> item_count(static_cast<size_t>(ni), 0);
    for (int32_t j : indices) ++item_count[j];
    ranked_users_.resize(static_cast<size_t>(nu));
    ranked_items_.resize(static_cast<size_t>(ni));
    std::iota(ranked_users_.begin(), ranked_users_.end(), 0);
    std::iota(ranked_items_.begin(), ranked_items_.end(), 0);
    std::stable_sort(ranked_users_.begin(), ranked_users_.end(), [&](int32_t a, int32_t b) {
        return indptr[a + 1] - indptr[a] > indptr[b + 1] - indptr[b];
    });
    std::stable_sort(ranked_items_.begin(), ranked_items_.end(),
                     [&](int32_t a, int32_t b) { return item_count[a] > item_count[b]; });

    // Everything the epochs need, allocated here so that nothing in a parallel
    // region allocates (or throws).
    strata_ = static_cast<int32_t>(std::clamp<int64_t>(ni / kMinGroupItems, 1, kMaxStrata));
    const int64_t P = strata_;
    user_group_.resize(static_cast<size_t>(nu));
    item_group_.resize(static_cast<size_t>(ni));
    group_items_.resize(static_cast<size_t>(ni));
    group_item_start_.resize(P + 1);
    group_users_.resize(static_cast<size_t>(nu));
    group_user_start_.resize(P + 1);
    order_.resize(static_cast<size_t>(data_.n_train()));
    block_start_.resize(P * P + 1);
    schedule_.resize(P * P);
    substep_start_.resize(P + 1);
    block_loss_.resize(P * P);
    block_samples_.resize(P * P);
    // Per-thread gradient buffers: each starts on its own 64-byte cache line
    // with a line of padding after it, since threads write them constantly.
    grad_stride_ = (dim + 15) / 16 * 16 + 16;  // floats, a multiple of 64 bytes
    grad_.assign(static_cast<size_t>(threads_ * grad_stride_), 0.0f);
}

// Deals ranked rows into the strata_ groups for this epoch: each run of
// strata_ consecutive ranks goes to the groups in a seeded random order, so
// every group gets the same number of rows (+-1) and rows of every rank.
void MfTrainer::DealGroups(const std::vector<int32_t>& ranked, uint64_t tag,
                           std::vector<int32_t>* group) const {
    Rng rng(Key(options_.seed, kTagStratum, tag, static_cast<uint64_t>(epoch_)));
    const int64_t n = static_cast<int64_t>(ranked.size());
    const int32_t P = strata_;
    int32_t perm[kMaxStrata];
    for (int64_t start = 0; start < n; start += P) {
        std::iota(perm, perm + P, 0);
        for (int32_t k = P - 1; k > 0; --k)
            std::swap(perm[k], perm[rng.Below(static_cast<uint64_t>(k + 1))]);
        const int64_t m = std::min<int64_t>(P, n - start);
        for (int64_t q = 0; q < m; ++q) (*group)[ranked[start + q]] = perm[q];
    }
}

// Builds this epoch's schedule (see Parallelism in mf.h): deals users and
// items into groups, lays the training pairs out block by block, shuffles
// each block (Fisher-Yates, seeded per epoch and block) and orders the blocks
// into sub-steps.  The pairs are stored, not positions into the CSR, so the
// hot loop reads them sequentially.
// Long: dealing users and items into groups and shuffling the epoch share the
// seeded streams and buffers.
void MfTrainer::BeginEpoch() {
    const int32_t P = strata_;
    const uint64_t seed = options_.seed;
    const uint64_t epoch = static_cast<uint64_t>(epoch_);
    DealGroups(ranked_users_, 0, &user_group_);
    DealGroups(ranked_items_, 1, &item_group_);
    SortByGroup(user_group_, &group_users_, &group_user_start_);
    SortByGroup(item_group_, &group_items_, &group_item_start_);

    const int64_t* indptr = data_.train_indptr().data();
    const int32_t* indices = data_.train_indices().data();
    const int32_t* users = group_users_.data();
    const int32_t* igroup = item_group_.data();
    int64_t* start = block_start_.data();
    Pair* order = order_.data();
    // Users between two polls (their rows average a few pairs each).
    constexpr int64_t kPollUsers = 4096;
    StopFlag stop;
#pragma omp parallel num_threads(threads_)
    {
        // Block sizes: block c = b * P + g counts into start[c + 1].
#pragma omp for schedule(dynamic, 1)
        for (int32_t b = 0; b < P; ++b) {
            int64_t* count = start + b * P + 1;
            std::fill(count, count + P, 0);
            for (int64_t q = group_user_start_[b]; q < group_user_start_[b + 1]; ++q) {
                if (q % kPollUsers == 0 && stop.Poll()) break;
                const int32_t u = users[q];
                for (int64_t p = indptr[u]; p < indptr[u + 1]; ++p) ++count[igroup[indices[p]]];
            }
        }
#pragma omp single
        {
            start[0] = 0;
            for (int32_t c = 0; c < P * P; ++c) start[c + 1] += start[c];
        }
        // Pairs in CSR order within each block (user group b fills blocks b * P ..).
#pragma omp for schedule(dynamic, 1)
        for (int32_t b = 0; b < P; ++b) {
            // After an interruption the counts are partial: write nothing.
            if (stop.stopped()) continue;
            int64_t next[kMaxStrata];
            std::copy_n(start + b * P, P, next);
            for (int64_t q = group_user_start_[b]; q < group_user_start_[b + 1]; ++q) {
                if (q % kPollUsers == 0 && stop.Poll()) break;
                const int32_t u = users[q];
                for (int64_t p = indptr[u]; p < indptr[u + 1]; ++p)
                    order[next[igroup[indices[p]]]++] = Pair{u, indices[p]};
            }
        }
#pragma omp for schedule(dynamic, 1)
        for (int32_t c = 0; c < P * P; ++c) {
            if (stop.stopped()) continue;
            Rng rng(Key(seed, kTagShuffle, epoch, static_cast<uint64_t>(c)));
            Pair* block = order + start[c];
            for (int64_t k = start[c + 1] - start[c] - 1; k > 0; --k) {
                if (k % kPollValues == 0 && stop.Poll()) break;
                const int64_t r = static_cast<int64_t>(rng.Below(static_cast<uint64_t>(k + 1)));
                std::swap(block[k], block[r]);
            }
        }
    }

    stop.ThrowIfStopped(kWhat);

    // Sub-step k trains blocks (b, pi((b + sigma(k)) mod P)) for b = 0 .. P-1.
    Rng rng(Key(seed, kTagStratum, 2, epoch));
    int32_t sigma[kMaxStrata], pi[kMaxStrata];
    std::iota(sigma, sigma + P, 0);
    std::iota(pi, pi + P, 0);
    for (int32_t k = P - 1; k > 0; --k) {
        std::swap(sigma[k], sigma[rng.Below(static_cast<uint64_t>(k + 1))]);
        std::swap(pi[k], pi[rng.Below(static_cast<uint64_t>(k + 1))]);
    }
    substep_start_[0] = 0;
    for (int32_t k = 0; k < P; ++k) {
        int64_t n = 0;
        for (int32_t b = 0; b < P; ++b) {
            const int32_t c = b * P + pi[(b + sigma[k]) % P];
            schedule_[k * P + b] = c;
            n += start[c + 1] - start[c];
        }
        substep_start_[k + 1] = substep_start_[k] + n;
    }
    std::fill(block_loss_.begin(), block_loss_.end(), 0.0);
    std::fill(block_samples_.begin(), block_samples_.end(), 0);
    epoch_time_ = 0.0;
    PlanRecomputations();
}

// True once the defense's Phase II has begun (this epoch is past Phase I).
bool MfTrainer::InPhase2() const {
    return !defenses_.empty() && epoch_ >= defenses_[0]->options().phase1_epochs;
}

// Positions of this epoch where the defense recomputes: the start of every
// sub-step whose Phase II step number (epoch - phase1_epochs) * P + k is a
// multiple of xi.  A position at the end of the epoch is dropped (the next
// epoch starts with its own plan).
void MfTrainer::PlanRecomputations() {
    recompute_pos_.clear();
    next_recompute_ = 0;
    if (!InPhase2()) return;
    const int64_t P = strata_;
    const int64_t n = static_cast<int64_t>(order_.size());
    const DefenseOptions& schedule = defenses_[0]->options();
    const int64_t first = static_cast<int64_t>(epoch_ - schedule.phase1_epochs) * P;
    for (int64_t k = 0; k < P; ++k) {
        if ((first + k) % schedule.xi != 0) continue;
        const int64_t pos = substep_start_[k];
        if (pos >= n) continue;
        if (recompute_pos_.empty() || recompute_pos_.back() != pos) recompute_pos_.push_back(pos);
    }
}

// Turns the RAID defense on before the first step.
void MfTrainer::SetDefense(const std::vector<int32_t>& user_class, int32_t classes,
                           const DefenseOptions& options) {
    if (epoch_ > 0 || cursor_ > 0 || done_)
        throw InvalidArgument("the defense must be set before the first training step");
    if (static_cast<int64_t>(user_class.size()) != data_.n_users())
        throw InvalidArgument("\"user_class\" must have one entry per user (" +
                              std::to_string(data_.n_users()) + "), got " +
                              std::to_string(user_class.size()));
    const int32_t a = defense_count();
    if (adversary_) throw InvalidArgument("the trainer already has the adversarial defense");
    if (a == kMaxAttributes)
        throw InvalidArgument("at most " + std::to_string(kMaxAttributes) + " protected attributes");
    if (a > 0 && (options.phase1_epochs != defenses_[0]->options().phase1_epochs ||
                  options.xi != defenses_[0]->options().xi))
        throw InvalidArgument("every protected attribute's defense must have the same \"phase1_epochs\" and \"xi\"");
    if (a == 1) {  // the combined pull (see mf.h), checked with the second defense's own memory
        const double n = static_cast<double>(data_.n_users());
        CheckMemory(4.0 * n * options_.dim + 4.0 * n, "the combined pull of several attributes");
    }
    // each attribute's seed differs, so that their samples do not coincide
    defenses_.push_back(std::make_unique<MfDefense>(user_class, classes, options, options_.dim,
                                                    a == 0 ? options_.seed : Key(options_.seed, kTagAttribute, a),
                                                    threads_));
    pull_active_.push_back(0);
    resume_.push_back(0);
    if (a == 1) {
        pull_.assign(static_cast<size_t>(data_.n_users()) * options_.dim, 0.0f);
        has_class_.assign(static_cast<size_t>(data_.n_users()), -1);
    }
    if (a >= 1)
        for (size_t u = 0; u < has_class_.size(); ++u)
            for (const auto& d : defenses_)
                if (d->user_class()[u] >= 0) has_class_[u] = 0;
}

// Turns on the adversarial baseline (see mf.h).
void MfTrainer::SetAdversary(const std::vector<int32_t>& user_class, int32_t classes,
                             const AdversaryOptions& options, double weight, int32_t epochs, int32_t start) {
    if (epoch_ > 0 || cursor_ > 0 || done_)
        throw InvalidArgument("the adversary must be set before training starts");
    if (!defenses_.empty() || adversary_) throw InvalidArgument("the trainer already has a defense");
    if (static_cast<int64_t>(user_class.size()) != data_.n_users())
        throw InvalidArgument("\"user_class\" must have one entry per user (" +
                              std::to_string(data_.n_users()) + "), got " + std::to_string(user_class.size()));
    if (!(weight >= 0) || !std::isfinite(weight) || epochs < 1 || start < 0)
        throw InvalidArgument("adversary: weight >= 0, epochs >= 1 and start >= 0");
    const double n = static_cast<double>(data_.n_users());
    CheckMemory(4.0 * n * options_.dim + 4.0 * n +
                    8.0 * (static_cast<double>(options_.dim) + classes + 1024.0) * options.hidden * 4.0,
                "the adversary");
    adversary_ = std::make_unique<Adversary>(options_.dim, classes, options);
    adversary_class_ = user_class;
    adversary_force_.assign(static_cast<size_t>(data_.n_users()) * options_.dim, 0.0f);
    adversary_weight_ = weight;
    adversary_epochs_ = epochs;
    adversary_start_ = start;
}

// The combined pull of several attributes (see mf.h): sum_a eta_a D_a over
// the attributes whose pull runs, in attribute order, users in parallel.
void MfTrainer::RebuildPull() {
    if (defenses_.size() < 2) return;
    const int64_t n = data_.n_users();
    const int32_t dim = options_.dim;
    std::fill(pull_.begin(), pull_.end(), 0.0f);
    for (size_t a = 0; a < defenses_.size(); ++a) {
        const MfDefense& d = *defenses_[a];
        if (!pull_active_[a] || d.options().eta <= 0.0) continue;
        const float eta = static_cast<float>(d.options().eta);
        const float* D = d.displacements();
        const int32_t* cls = d.user_class().data();
        float* P = pull_.data();
#pragma omp parallel for num_threads(threads_) schedule(static)
        for (int64_t u = 0; u < n; ++u) {
            if (cls[u] < 0) continue;
            const float* du = D + u * dim;
            float* pu = P + u * dim;
            for (int32_t k = 0; k < dim; ++k) pu[k] += eta * du[k];
        }
    }
}

// Replaces the user embeddings after training (see mf.h).
void MfTrainer::SetInitialEmbeddings(const float* users, const uint8_t* user_given,
                                     const float* items, const uint8_t* item_given) {
    if (epoch_ > 0 || cursor_ > 0 || done_)
        throw InvalidArgument("initial embeddings must be set before the first training step");
    const int64_t dim = options_.dim;
    auto apply = [&](const float* src, const uint8_t* given, int64_t n, AlignedFloats& rows,
                     AlignedFloats& compact, const char* what) {
        if (src == nullptr || given == nullptr) return;
        for (int64_t i = 0; i < n; ++i)
            if (given[i])
                for (int64_t k = 0; k < dim; ++k)
                    if (!std::isfinite(src[i * dim + k]))
                        throw InvalidArgument(std::string("initial ") + what + " embeddings: non-finite value");
        for (int64_t i = 0; i < n; ++i)
            if (given[i]) {
                std::copy_n(src + i * dim, dim, rows.data() + i * row_stride_);
                std::copy_n(src + i * dim, dim, compact.data() + i * dim);
            }
    };
    apply(users, user_given, data_.n_users(), user_rows_, U_, "user");
    apply(items, item_given, data_.n_items(), item_rows_, V_, "item");
}

void MfTrainer::SetUserEmbeddings(const float* rows) {
    if (!done_) throw InvalidArgument("user embeddings can be replaced only after training");
    if (rows == nullptr) throw InvalidArgument("user embeddings: null table");
    const int64_t dim = options_.dim;
    const int64_t count = data_.n_users() * dim;
    for (int64_t i = 0; i < count; ++i)
        if (!std::isfinite(rows[i])) throw InvalidArgument("user embeddings: non-finite value");
    for (int64_t i = 0; i < data_.n_users(); ++i) {
        std::copy_n(rows + i * dim, dim, user_rows_.data() + i * row_stride_);
        std::copy_n(rows + i * dim, dim, U_.data() + i * dim);
    }
    for (auto& d : defenses_) d->Measure(U_.data(), options_.dim, false);
}

// Attribute a's defense summary (all zeros without a defense).
DefenseSummary MfTrainer::defense_summary(int32_t attribute) const {
    const MfDefense* d = defense(attribute);
    return d != nullptr ? d->summary() : DefenseSummary();
}

// Changes attribute a's pull strength from the next Step() on.
void MfTrainer::SetDefenseEta(double eta, int32_t attribute) {
    if (defenses_.empty()) throw InvalidArgument("the trainer has no defense");
    if (attribute < 0 || attribute >= defense_count())
        throw InvalidArgument("the trainer has no protected attribute " + std::to_string(attribute));
    MfDefense& d = *defenses_[attribute];
    const bool resume = d.options().eta == 0.0 && eta > 0.0;
    d.SetEta(eta);
    if (resume && pull_active_[attribute]) resume_[attribute] = 1;  // its targets are stale
    RebuildPull();
}

// s = <u, v> and vv = |v|^2 in one pass.
inline void DotAndNorm(const float* u, const float* v, int dim, float* s, float* vv) {
    float a = 0.0f, b = 0.0f;
#pragma omp simd reduction(+ : a, b)
    for (int k = 0; k < dim; ++k) {
        a += u[k] * v[k];
        b += v[k] * v[k];
    }
    *s = a;
    *vv = b;
}

// True if x is in the ascending array row[0..n) (branch-free binary search:
// the loop has a fixed trip count and a conditional move instead of a
// data-dependent branch, which matters because the probes are unpredictable).
inline bool ContainsSorted(const int32_t* row, int64_t n, int32_t x) {
    if (n <= 0) return false;
    const int32_t* base = row;
    while (n > 1) {
        const int64_t half = n / 2;
        base = base[half] <= x ? base + half : base;
        n -= half;
    }
    return *base == x;
}

// |x|^2.
inline float SquaredNorm(const float* x, int dim) {
    float a = 0.0f;
#pragma omp simd reduction(+ : a)
    for (int k = 0; k < dim; ++k) a += x[k] * x[k];
    return a;
}

// Runs the SGD updates for epoch positions [begin, end): for each sub-step
// it overlaps, the same fraction of each of its blocks, the blocks of a
// sub-step in parallel (they share no row) and the sub-steps one after the
// other.  Each block runs on one thread, so the result does not depend on
// the thread count or on how the positions are cut into chunks.
void MfTrainer::TrainRange(int64_t begin, int64_t end) {
    const int32_t P = strata_;
    StopFlag stop;
#pragma omp parallel num_threads(threads_)
    {
        float* gu = grad_.data() + static_cast<int64_t>(ThreadIndex()) * grad_stride_;
        for (int32_t k = 0; k < P; ++k) {
            const int64_t s0 = substep_start_[k];
            const int64_t n = substep_start_[k + 1] - s0;
            const int64_t lo = std::max(begin, s0) - s0;
            const int64_t hi = std::min(end, s0 + n) - s0;
            if (lo >= hi) continue;  // the same for every thread
#pragma omp for schedule(dynamic, 1)
            for (int32_t b = 0; b < P; ++b) {
                if (stop.stopped()) continue;
                const int32_t c = schedule_[k * P + b];
                const int64_t first = block_start_[c];
                const uint64_t size = static_cast<uint64_t>(block_start_[c + 1] - first);
                // Positions [lo, hi) of the sub-step = this share of the block.
                const auto share = [&](int64_t x) {
                    return first + static_cast<int64_t>(static_cast<unsigned __int128>(size) *
                                                        static_cast<uint64_t>(x) /
                                                        static_cast<uint64_t>(n));
                };
                TrainBlock(c, share(lo), share(hi), gu, &stop);
            }
        }
    }
    stop.ThrowIfStopped(kWhat);
}

// Runs the SGD updates for the pairs order_[begin, end) of block c on the
// calling thread, adding to the block's loss and sample count.  Polls the
// interrupt check every kPollWork multiply-adds and returns early once it asks
// to stop (the caller then throws).
//
// The hot loop is written as fused passes over the rows rather than as Eigen
// expressions: an item update needs |g_v|^2 before it can move v, and
//   |g_v|^2 = |coef u + l2 v|^2 = coef^2 |u|^2 + 2 coef l2 <u,v> + l2^2 |v|^2
// follows from the dot-product pass, so each sample costs two passes over
// its row (dot+norm, then update) instead of five separate vector operations.
// Long: the SGD kernel; one function keeps the hot loop's state local and its
// cancellation polls in one place.
void MfTrainer::TrainBlock(int32_t c, int64_t begin, int64_t end, float* gu, StopFlag* stop) {
    if (begin >= end) return;
    if (stop->Poll()) return;
    const int dim = options_.dim;
    const float lr = static_cast<float>(options_.lr);
    const float l2 = static_cast<float>(options_.l2);
    const float inv_dim = 1.0f / static_cast<float>(dim);
    const int negatives = options_.negatives;
    const int64_t n_items = data_.n_items();
    const uint64_t seed = options_.seed;
    const uint64_t epoch = static_cast<uint64_t>(epoch_);
    const int32_t* indices = data_.train_indices().data();
    const int64_t* indptr = data_.train_indptr().data();
    const Pair* pairs = order_.data();
    const int64_t S = row_stride_;
    float* U = user_rows_.data();
    float* V = item_rows_.data();
    // Negatives come from the block's item group (see mf.h).
    const int32_t g = c % strata_;
    const int32_t* group_items = group_items_.data() + group_item_start_[g];
    const uint64_t group_size =
        static_cast<uint64_t>(group_item_start_[g + 1] - group_item_start_[g]);
    double loss_sum = block_loss_[c];  // summed in position order: chunking does not matter
    int64_t samples = 0;
    // The defense's pull (mf_defense.h): null outside Phase II.
    // One attribute: its displacements, scaled here; several: their sum, scaled.
    bool pulling = false;
    for (size_t a = 0; a < defenses_.size(); ++a)
        pulling = pulling || (pull_active_[a] && defenses_[a]->options().eta > 0.0);
    const bool single = defenses_.size() == 1;
    const float* targets =
        !pulling ? nullptr : single ? defenses_[0]->displacements() : pull_.data();
    const int32_t* user_class =
        !pulling ? nullptr : single ? defenses_[0]->user_class().data() : has_class_.data();
    float eta = pulling && single ? static_cast<float>(defenses_[0]->options().eta) : 1.0f;
    if (adversary_on_) {  // the adversarial baseline: the reversed gradient of the epoch
        targets = adversary_force_.data();
        user_class = adversary_class_.data();
        eta = static_cast<float>(adversary_weight_);
    }
    // Work of one group: the positive and its negatives, two passes each,
    // plus the user's update.
    const int64_t group_work = (2 + 2 * static_cast<int64_t>(negatives)) * dim + 2 * dim;
    int64_t work = 0;

    for (int64_t t = begin; t < end; ++t) {
        work += group_work;
        if (work >= kPollWork) {
            work = 0;
            if (stop->Poll()) return;
        }
        const int32_t user = pairs[t].user;
        float* u = U + static_cast<int64_t>(user) * S;
        const float uu = SquaredNorm(u, dim);
        std::fill(gu, gu + dim, 0.0f);

        // One BCE sample against item j with label y: update v_j, accumulate g_u.
        auto sample = [&](int32_t j, float y) {
            float* v = V + static_cast<int64_t>(j) * S;
            float s, vv;
            DotAndNorm(u, v, dim, &s, &vv);
            const float e = std::exp(-std::fabs(s));
            const float sig = s >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
            // BCE = softplus(-s) if y = 1, softplus(s) if y = 0 (stable form).
            const float z = y > 0.5f ? -s : s;
            loss_sum += static_cast<double>(std::max(z, 0.0f) + std::log(1.0f + e));
            ++samples;
            const float coef = sig - y;
            const float g2 = coef * coef * uu + 2.0f * coef * l2 * s + l2 * l2 * vv;
            const float acc = v[dim] + std::max(g2, 0.0f) * inv_dim;
            v[dim] = acc;
            const float step = lr / std::sqrt(acc + kAdagradEps);
            const float keep = 1.0f - step * l2;
            const float move = step * coef;
#pragma omp simd
            for (int k = 0; k < dim; ++k) {
                const float vk = v[k];
                gu[k] += coef * vk;
                v[k] = keep * vk - move * u[k];
            }
        };

        sample(pairs[t].item, 1.0f);
        const int32_t* row = indices + indptr[user];
        const int64_t row_len = indptr[user + 1] - indptr[user];
        if (negatives > 0 && row_len < n_items) {
            Rng rng(Key(seed, kTagNegative, epoch, static_cast<uint64_t>(t)));
            for (int k = 0; k < negatives; ++k) {
                for (int tries = 0; tries < kNegativeRetries; ++tries) {
                    const int32_t j = group_items[rng.Below(group_size)];
                    if (!ContainsSorted(row, row_len, j)) {
                        sample(j, 0.0f);
                        break;
                    }
                }
            }
        }
        if (targets != nullptr && user_class[user] >= 0) {
            const float* tu = targets + static_cast<int64_t>(user) * dim;
#pragma omp simd
            for (int k = 0; k < dim; ++k) gu[k] -= eta * tu[k];
        }
        float g2 = 0.0f;
#pragma omp simd reduction(+ : g2)
        for (int k = 0; k < dim; ++k) {
            gu[k] += l2 * u[k];
            g2 += gu[k] * gu[k];
        }
        const float acc = u[dim] + g2 * inv_dim;
        u[dim] = acc;
        const float step = lr / std::sqrt(acc + kAdagradEps);
#pragma omp simd
        for (int k = 0; k < dim; ++k) u[k] -= step * gu[k];
    }
    block_loss_[c] = loss_sum;
    block_samples_[c] += samples;
}

// Copies the weights of the training tables into the compact U_ and V_.
void MfTrainer::Export() {
    const int64_t dim = options_.dim;
    const int64_t S = row_stride_;
    const int64_t nu = data_.n_users();
    const int64_t ni = data_.n_items();
    const int64_t poll_rows = RowsPerPoll(dim);
    for (int64_t i = 0; i < nu; ++i) {
        if (i % poll_rows == 0) ThrowIfInterrupted(kWhat);
        std::copy_n(user_rows_.data() + i * S, dim, U_.data() + i * dim);
    }
    for (int64_t j = 0; j < ni; ++j) {
        if (j % poll_rows == 0) ThrowIfInterrupted(kWhat);
        std::copy_n(item_rows_.data() + j * S, dim, V_.data() + j * dim);
    }
}

// Closes an epoch: exports the embeddings, records loss and time, and checks
// for divergence.
void MfTrainer::EndEpoch() {
    Export();
    double loss_sum = 0.0;  // over the blocks in a fixed order: deterministic
    int64_t samples = 0;
    for (size_t c = 0; c < block_loss_.size(); ++c) {
        loss_sum += block_loss_[c];
        samples += block_samples_[c];
    }
    const double loss = samples > 0 ? loss_sum / static_cast<double>(samples) : 0.0;
    const int32_t number = epoch_ + 1;
    if (!std::isfinite(loss)) {
        failure_ = "training diverged at epoch " + std::to_string(number) + " (loss is " +
                   (std::isnan(loss) ? "NaN" : "infinite") + "); lower \"lr\"";
    } else if (!AllFinite(U_) || !AllFinite(V_)) {
        failure_ = "training diverged at epoch " + std::to_string(number) +
                   " (embeddings are not finite); lower \"lr\"";
    }
    if (!failure_.empty()) throw DataError(failure_);
    summary_.epoch_loss.push_back(loss);
    summary_.epoch_samples.push_back(samples);
    summary_.epoch_seconds.push_back(epoch_time_);
    summary_.total_seconds += epoch_time_;
    for (auto& d : defenses_) {
        DefenseSummary& ds = d->summary();
        const int32_t p1 = d->options().phase1_epochs;
        double& phase = InPhase2() ? ds.phase2_seconds : ds.phase1_seconds;
        phase += epoch_time_;
        if (InPhase2())
            ds.phase2_epoch_seconds = ds.phase2_seconds / static_cast<double>(number - p1);
        else
            ds.phase1_epoch_seconds = ds.phase1_seconds / static_cast<double>(number);
    }
    epoch_ = number;
    summary_.epochs_completed = epoch_;
    cursor_ = 0;
    if (epoch_ >= options_.epochs) {
        done_ = true;
        for (auto& d : defenses_) d->Measure(U_.data(), options_.dim, false);
    }
}

// Fills a progress report from the current state.
void MfTrainer::FillProgress(MfProgress* progress, bool epoch_finished) const {
    if (progress == nullptr) return;
    const double per_epoch = static_cast<double>(order_.size());
    progress->epoch = epoch_;
    progress->epochs = options_.epochs;
    progress->fraction =
        done_ ? 1.0
              : (epoch_ * per_epoch + static_cast<double>(cursor_)) / (options_.epochs * per_epoch);
    progress->epoch_finished = epoch_finished;
    progress->loss = summary_.epoch_loss.empty() ? 0.0 : summary_.epoch_loss.back();
    progress->epoch_seconds = summary_.epoch_seconds.empty() ? 0.0 : summary_.epoch_seconds.back();
}

// Runs one chunk; returns true once every epoch has run.  An interruption
// anywhere in it (kernel, schedule, defense, export) leaves the trainer
// unusable.
bool MfTrainer::Step(MfProgress* progress) {
    if (cancelled_) throw Interrupted("training cancelled");
    try {
        return StepUnguarded(progress);
    } catch (const Interrupted&) {
        cancelled_ = true;
        throw Interrupted("training cancelled");
    }
}

// Step() without the interruption bookkeeping.
bool MfTrainer::StepUnguarded(MfProgress* progress) {
    if (!failure_.empty()) throw DataError(failure_);
    if (done_) {
        FillProgress(progress, false);
        return true;
    }
    const auto t0 = std::chrono::steady_clock::now();
    double excluded = 0.0;  // class-distance measurement, not training time
    if (cursor_ == 0) {
        BeginEpoch();
        if (adversary_ && epoch_ >= adversary_start_ && adversary_weight_ > 0) {
            // the adversary follows the rows, then its reversed gradient holds for the epoch
            adversary_accuracy_.push_back(adversary_->Accuracy(user_rows_.data(), row_stride_, adversary_class_));
            adversary_->Train(user_rows_.data(), row_stride_, adversary_class_, adversary_epochs_);
            // the kernel moves users along +eta * force: up the adversary's loss
            adversary_->InputGradients(user_rows_.data(), row_stride_, adversary_class_, adversary_force_.data());
            adversary_on_ = true;
        }
    }
    const int64_t n = static_cast<int64_t>(order_.size());
    int64_t end = options_.chunk >= n - cursor_ ? n : cursor_ + options_.chunk;
    if (!recompute_pos_.empty()) {
        // Recompute at this position if one is due (or the pull resumes from a
        // pause); never run past the next one.  A paused pull (eta 0) skips
        // its recomputations.
        const bool due =
            next_recompute_ < recompute_pos_.size() && recompute_pos_[next_recompute_] == cursor_;
        bool recomputed = false;
        for (size_t a = 0; a < defenses_.size(); ++a) {
            MfDefense& d = *defenses_[a];
            if (!(due || resume_[a]) || d.options().eta <= 0.0) continue;
            if (!pull_active_[a]) excluded += d.Measure(user_rows_.data(), row_stride_, true);
            d.Recompute(user_rows_.data(), row_stride_);
            pull_active_[a] = 1;
            resume_[a] = 0;
            recomputed = true;
        }
        if (recomputed) RebuildPull();
        if (due) ++next_recompute_;
        if (next_recompute_ < recompute_pos_.size())
            end = std::min(end, recompute_pos_[next_recompute_]);
    }
    TrainRange(cursor_, end);
    cursor_ = end;
    epoch_time_ += SecondsSince(t0) - excluded;
    bool finished = false;
    if (cursor_ == n) {
        EndEpoch();
        finished = true;
    }
    FillProgress(progress, finished);
    return done_;
}

// Runs Step() to the end, reporting each epoch and checking cancel between chunks.
void MfTrainer::Run(const MfProgressCallback& on_epoch, const MfCancelCallback& cancel) {
    MfProgress progress;
    while (true) {
        const bool finished = Step(&progress);
        if (progress.epoch_finished && on_epoch)
            on_epoch(progress.epoch, progress.loss, progress.epoch_seconds);
        if (finished) return;
        if (cancel && cancel()) {
            throw Interrupted("training cancelled after " + std::to_string(progress.epoch) +
                              " of " + std::to_string(options_.epochs) + " epochs");
        }
    }
}

}  // namespace raid
