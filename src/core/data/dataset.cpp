// dataset.cpp: id remapping, duplicate collapsing, CSR and leave-one-out split.
//
// Remapping sorts the distinct ids; when the ids span a small range (the usual
// 1..n case) a direct lookup table replaces the binary search.  Rows are built
// by a counting sort on the user index followed by a sort + unique per row.
//
// Cancellation: every loop over the pairs polls the interrupt check every
// kPollPairs pairs (the sorts through their comparison), so that Finalize()
// of hundreds of millions of pairs stops within milliseconds.
//
// Memory (the budget of common.h), for P pairs:
//   Append    the pair buffer: 16 bytes per pair, twice (vector growth
//             reallocates to double capacity and copies): 32 (P + n)
//   Finalize  peak while remapping: the raw pairs (16 P), a sorted copy of
//             one column (8 P), the dense user and item columns (8 P) and the
//             CSR (4 P + 8 users): 36 P bytes
#include "dataset.h"

#include <algorithm>
#include <limits>
#include <string>

#include "../common.h"

namespace raid {

namespace {

constexpr uint64_t kPollPairs = uint64_t{1} << 16;  // pairs (or comparisons) per poll
constexpr const char* kWhat = "building the dataset";

// Bytes of the pair buffer after appending to P pairs (see Memory above).
double AppendBytes(double pairs) { return 32.0 * pairs; }

// Peak bytes of Finalize() for P pairs (see Memory above).
double FinalizeBytes(double pairs) { return 36.0 * pairs; }

// Polls the interrupt check on every kPollPairs-th call.
class PairPoll {
  public:
    void operator()() {
        if ((++count_ & (kPollPairs - 1)) == 0) ThrowIfInterrupted(kWhat);
    }

  private:
    uint64_t count_ = 0;
};

// Sorted distinct values of v (the sort polls through its comparison).
std::vector<int64_t> SortedDistinct(const std::vector<int64_t>& v) {
    std::vector<int64_t> out(v);
    PairPoll poll;
    std::sort(out.begin(), out.end(), [&poll](int64_t a, int64_t b) {
        poll();
        return a < b;
    });
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

// Maps every value of raw to its index in the sorted distinct array ids.
std::vector<int32_t> MapToIndex(const std::vector<int64_t>& raw, const std::vector<int64_t>& ids) {
    std::vector<int32_t> out(raw.size());
    PairPoll poll;
    const int64_t lo = ids.front();
    const int64_t hi = ids.back();
    // hi - lo cannot overflow in unsigned arithmetic; compare the span with a
    // budget of a few entries per distinct id before using a lookup table.
    const uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
    const uint64_t budget = 4 * static_cast<uint64_t>(ids.size()) + 1024;
    if (span < budget) {
        std::vector<int32_t> table(span + 1, -1);
        for (size_t k = 0; k < ids.size(); ++k) {
            table[static_cast<uint64_t>(ids[k]) - static_cast<uint64_t>(lo)] =
                static_cast<int32_t>(k);
        }
        for (size_t p = 0; p < raw.size(); ++p) {
            poll();
            out[p] = table[static_cast<uint64_t>(raw[p]) - static_cast<uint64_t>(lo)];
        }
    } else {
        // Branch-free binary search (fixed trip count, conditional moves): the
        // probes are unpredictable, so this is ~3x faster than std::lower_bound.
        const int64_t* first = ids.data();
        const int64_t n = static_cast<int64_t>(ids.size());
        for (size_t p = 0; p < raw.size(); ++p) {
            poll();
            const int64_t x = raw[p];
            const int64_t* base = first;
            int64_t len = n;
            while (len > 1) {
                const int64_t half = len / 2;
                base = base[half] <= x ? base + half : base;
                len -= half;
            }
            out[p] = static_cast<int32_t>(base - first);
        }
    }
    return out;
}

}  // namespace

// Appends n (users[i], items[i]) pairs; throws InvalidArgument after Finalize().
void Dataset::Append(const int64_t* users, const int64_t* items, size_t n) {
    if (finalized_) throw InvalidArgument("dataset is already finalized");
    if (n == 0) return;
    if (users == nullptr || items == nullptr)
        throw InvalidArgument("user and item arrays must not be null");
    CheckMemory(AppendBytes(static_cast<double>(n_pairs_) + static_cast<double>(n)),
                "the dataset");
    raw_users_.insert(raw_users_.end(), users, users + n);
    raw_items_.insert(raw_items_.end(), items, items + n);
    n_pairs_ += static_cast<int64_t>(n);
}

// Remaps ids, collapses duplicates, sorts rows and holds out one item per user.
// Long: the remap, collapse and split passes share their index arrays.
void Dataset::Finalize(bool holdout, uint64_t seed) {
    if (finalized_) throw InvalidArgument("dataset is already finalized");
    if (raw_users_.empty()) throw DataError("no interactions");
    CheckMemory(FinalizeBytes(static_cast<double>(raw_users_.size())), kWhat);

    user_ids_ = SortedDistinct(raw_users_);
    item_ids_ = SortedDistinct(raw_items_);
    const uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int32_t>::max());
    if (user_ids_.size() > kMax)
        throw LimitExceeded("too many distinct users: " + std::to_string(user_ids_.size()) +
                            " (the limit is " + std::to_string(kMax) + ")");
    if (item_ids_.size() > kMax)
        throw LimitExceeded("too many distinct items: " + std::to_string(item_ids_.size()) +
                            " (the limit is " + std::to_string(kMax) + ")");

    const std::vector<int32_t> du = MapToIndex(raw_users_, user_ids_);
    std::vector<int32_t> di = MapToIndex(raw_items_, item_ids_);
    // The raw pairs are no longer needed: release them early.
    std::vector<int64_t>().swap(raw_users_);
    std::vector<int64_t>().swap(raw_items_);

    const int32_t nu = n_users();
    PairPoll poll;
    // Counting sort of the pairs by user.
    std::vector<int64_t> indptr(static_cast<size_t>(nu) + 1, 0);
    for (int32_t u : du) ++indptr[static_cast<size_t>(u) + 1];
    for (int32_t u = 0; u < nu; ++u) indptr[u + 1] += indptr[u];
    std::vector<int32_t> all(di.size());
    {
        std::vector<int64_t> cursor(indptr.begin(), indptr.end() - 1);
        for (size_t p = 0; p < du.size(); ++p) {
            poll();
            all[cursor[du[p]]++] = di[p];
        }
    }
    std::vector<int32_t>().swap(di);

    // Sort and deduplicate each row, compacting in place.
    int64_t write = 0;
    for (int32_t u = 0; u < nu; ++u) {
        auto first = all.begin() + indptr[u];
        auto last = all.begin() + indptr[u + 1];
        std::sort(first, last, [&poll](int32_t a, int32_t b) {
            poll();
            return a < b;
        });
        last = std::unique(first, last);
        const int64_t len = last - first;
        std::copy(first, last, all.begin() + write);
        indptr[u] = write;
        write += len;
    }
    indptr[nu] = write;
    all.resize(static_cast<size_t>(write));
    n_interactions_ = write;

    // Leave-one-out: one uniformly chosen item per user with >= 2 interactions.
    heldout_.assign(static_cast<size_t>(nu), -1);
    n_heldout_ = 0;
    if (holdout) {
        for (int32_t u = 0; u < nu; ++u) {
            const int64_t len = indptr[u + 1] - indptr[u];
            if (len < 2) continue;
            Rng rng(Key(seed, kTagHoldout, static_cast<uint64_t>(u)));
            const int64_t pick = static_cast<int64_t>(rng.Below(static_cast<uint64_t>(len)));
            heldout_[u] = all[indptr[u] + pick];
            ++n_heldout_;
        }
    }

    // Training CSR: every interaction except the held-out one.
    train_indptr_.assign(static_cast<size_t>(nu) + 1, 0);
    train_indices_.clear();
    train_indices_.reserve(static_cast<size_t>(n_interactions_ - n_heldout_));
    for (int32_t u = 0; u < nu; ++u) {
        poll();
        for (int64_t p = indptr[u]; p < indptr[u + 1]; ++p) {
            if (all[p] != heldout_[u]) train_indices_.push_back(all[p]);
        }
        train_indptr_[u + 1] = static_cast<int64_t>(train_indices_.size());
    }
    finalized_ = true;
}

// Training interactions per item (popularity).
std::vector<int64_t> Dataset::ItemTrainCounts() const {
    std::vector<int64_t> counts(item_ids_.size(), 0);
    for (int32_t j : train_indices_) ++counts[j];
    return counts;
}

}  // namespace raid
