// crossval.cpp: stratified, hash-ordered folds, balancing and standardisation.
#include "crossval.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

namespace raid {

namespace {

constexpr const char* kWhat = "audit";
constexpr uint64_t kPollCount = uint64_t{1} << 16;  // comparisons or values per poll

// Polls the interrupt check on every kPollCount-th call.
class CountingPoll {
  public:
    void operator()(uint64_t units = 1) {
        count_ += units;
        if (count_ >= kPollCount) {
            count_ = 0;
            ThrowIfInterrupted(kWhat);
        }
    }

  private:
    uint64_t count_ = 0;
};

// Rows of each class, ordered by (Key(seed, tag, id), id).
std::vector<std::vector<int64_t>> RowsByHash(const int64_t* ids, const int32_t* labels, int64_t n,
                                             int32_t classes, uint64_t seed, uint64_t tag) {
    std::vector<std::vector<std::pair<uint64_t, int64_t>>> keyed(static_cast<size_t>(classes));
    for (int64_t i = 0; i < n; ++i)
        keyed[labels[i]].push_back({Key(seed, tag, static_cast<uint64_t>(ids[i])), i});
    std::vector<std::vector<int64_t>> rows(static_cast<size_t>(classes));
    for (int32_t c = 0; c < classes; ++c) {
        auto& k = keyed[c];
        // Distinct ids have distinct keys (Mix64 is a bijection), so the
        // order does not depend on the input order.
        CountingPoll poll;
        std::sort(k.begin(), k.end(), [&poll](const auto& a, const auto& b) {
            poll();
            return a < b;
        });
        rows[c].reserve(k.size());
        for (const auto& e : k) rows[c].push_back(e.second);
    }
    return rows;
}

// Sorts input rows by ascending id.
void SortById(const int64_t* ids, std::vector<int64_t>* rows) {
    CountingPoll poll;
    std::sort(rows->begin(), rows->end(), [ids, &poll](int64_t a, int64_t b) {
        poll();
        return ids[a] < ids[b];
    });
}

}  // namespace

// Builds the stratified, optionally balanced fold plan.
FoldPlan MakeFoldPlan(const int64_t* ids, const int32_t* labels, int64_t n, int32_t classes,
                      int32_t folds, uint64_t seed, bool balance) {
    if (classes < 2)
        throw InvalidArgument("an audit needs at least 2 classes, got " + std::to_string(classes));
    if (folds < 2) throw InvalidArgument("folds must be at least 2, got " + std::to_string(folds));
    if (n < 0) throw InvalidArgument("n must not be negative, got " + std::to_string(n));
    if (n > 0 && (ids == nullptr || labels == nullptr))
        throw InvalidArgument("ids and labels must not be null");
    std::vector<int64_t> count(static_cast<size_t>(classes), 0);
    for (int64_t i = 0; i < n; ++i) {
        if (labels[i] < 0 || labels[i] >= classes)
            throw InvalidArgument("label " + std::to_string(labels[i]) + " of user " +
                                  std::to_string(ids[i]) + " is outside 0.." +
                                  std::to_string(classes - 1));
        ++count[labels[i]];
    }
    for (int32_t c = 0; c < classes; ++c)
        if (count[c] < folds)
            throw InvalidArgument("class " + std::to_string(c) + " has " +
                                  std::to_string(count[c]) + " users, fewer than the " +
                                  std::to_string(folds) + " folds");
    {
        std::vector<int64_t> sorted(ids, ids + n);
        CountingPoll poll;
        std::sort(sorted.begin(), sorted.end(), [&poll](int64_t a, int64_t b) {
            poll();
            return a < b;
        });
        const auto dup = std::adjacent_find(sorted.begin(), sorted.end());
        if (dup != sorted.end())
            throw DataError("user id " + std::to_string(*dup) + " occurs more than once");
    }

    FoldPlan plan;
    plan.folds = folds;
    plan.fold_of.assign(static_cast<size_t>(n), -1);
    const auto by_fold_hash = RowsByHash(ids, labels, n, classes, seed, kTagFold);
    for (int32_t c = 0; c < classes; ++c)
        for (size_t p = 0; p < by_fold_hash[c].size(); ++p)
            plan.fold_of[by_fold_hash[c][p]] = static_cast<int32_t>(p % static_cast<size_t>(folds));

    plan.train.resize(static_cast<size_t>(folds));
    plan.test.resize(static_cast<size_t>(folds));
    const auto by_balance_hash = RowsByHash(ids, labels, n, classes, seed, kTagBalance);
    for (int32_t f = 0; f < folds; ++f) {
        for (int64_t i = 0; i < n; ++i)
            if (plan.fold_of[i] == f) plan.test[f].push_back(i);
        // Training users of each class, by ascending balance hash.
        std::vector<std::vector<int64_t>> train_by_class(static_cast<size_t>(classes));
        size_t smallest = static_cast<size_t>(n);
        for (int32_t c = 0; c < classes; ++c) {
            for (int64_t i : by_balance_hash[c])
                if (plan.fold_of[i] != f) train_by_class[c].push_back(i);
            smallest = std::min(smallest, train_by_class[c].size());
        }
        for (int32_t c = 0; c < classes; ++c) {
            const size_t keep = balance ? smallest : train_by_class[c].size();
            plan.train[f].insert(plan.train[f].end(), train_by_class[c].begin(),
                                 train_by_class[c].begin() + static_cast<std::ptrdiff_t>(keep));
        }
        SortById(ids, &plan.train[f]);
        SortById(ids, &plan.test[f]);
    }
    return plan;
}

// Gathers and standardises the rows of one fold.
void GatherStandardized(const float* X, int32_t dim, const std::vector<int64_t>& train,
                        const std::vector<int64_t>& test, RowMatrixF* x_train, RowMatrixF* x_test) {
    const int64_t n_train = static_cast<int64_t>(train.size());
    std::vector<double> mean(static_cast<size_t>(dim), 0.0), scale(static_cast<size_t>(dim), 0.0);
    CountingPoll poll;
    // Two passes in double: the mean, then the centred sum of squares.
    for (int64_t i : train) {
        poll(static_cast<uint64_t>(dim));
        const float* row = X + i * dim;
        for (int32_t j = 0; j < dim; ++j) mean[j] += row[j];
    }
    for (int32_t j = 0; j < dim; ++j) mean[j] /= static_cast<double>(std::max<int64_t>(n_train, 1));
    for (int64_t i : train) {
        poll(static_cast<uint64_t>(dim));
        const float* row = X + i * dim;
        for (int32_t j = 0; j < dim; ++j) {
            const double d = row[j] - mean[j];
            scale[j] += d * d;
        }
    }
    for (int32_t j = 0; j < dim; ++j) {
        const double sd = std::sqrt(scale[j] / static_cast<double>(std::max<int64_t>(n_train, 1)));
        // A constant feature (or one numerically so) is only centred, as in
        // scikit-learn, which treats deviations below 10 eps |mean| as 0.
        scale[j] =
            sd > 10.0 * 2.220446049250313e-16 * std::fabs(mean[j]) && sd > 0.0 ? 1.0 / sd : 1.0;
    }
    auto gather = [&](const std::vector<int64_t>& rows, RowMatrixF* out) {
        out->resize(static_cast<Eigen::Index>(rows.size()), dim);
        for (size_t r = 0; r < rows.size(); ++r) {
            poll(static_cast<uint64_t>(dim));
            const float* row = X + rows[r] * dim;
            float* dst = out->data() + static_cast<int64_t>(r) * dim;
            for (int32_t j = 0; j < dim; ++j)
                dst[j] = static_cast<float>((row[j] - mean[j]) * scale[j]);
        }
    };
    gather(train, x_train);
    gather(test, x_test);
}

// Marks the stratified holdout (1 = validation).
std::vector<uint8_t> StratifiedHoldout(const int64_t* ids, const int32_t* labels, int64_t n,
                                       int32_t classes, double fraction, uint64_t key) {
    std::vector<uint8_t> holdout(static_cast<size_t>(n), 0);
    const auto rows = RowsByHash(ids, labels, n, classes, key, kTagValidation);
    for (int32_t c = 0; c < classes; ++c) {
        const int64_t n_c = static_cast<int64_t>(rows[c].size());
        // ceil, minus a hair so that 0.1 * 430 = 43.000000000000004 gives 43.
        int64_t take = static_cast<int64_t>(std::ceil(fraction * static_cast<double>(n_c) - 1e-9));
        take = std::min(take, n_c - 1);
        for (int64_t p = 0; p < take; ++p) holdout[rows[c][p]] = 1;
    }
    return holdout;
}

}  // namespace raid
