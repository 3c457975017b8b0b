// mf_defense.cpp: samples, barycenter recomputation and targets of the RAID
// defense (see mf_defense.h).
#include "mf_defense.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <string>

#include "../ot/defense.h"

namespace raid {

namespace {


// Up to k of the ids (ascending), drawn without replacement from key; all if k == 0 or k >= n.
std::vector<int32_t> SampleIds(const std::vector<int32_t>& ids, int64_t k, uint64_t key) {
    const int64_t n = static_cast<int64_t>(ids.size());
    if (k <= 0 || k >= n) return ids;
    std::vector<int32_t> v = ids;
    Rng rng(key);
    for (int64_t i = 0; i < k; ++i)
        std::swap(v[i], v[i + static_cast<int64_t>(rng.Below(static_cast<uint64_t>(n - i)))]);
    v.resize(static_cast<size_t>(k));
    std::sort(v.begin(), v.end());
    return v;
}

}  // namespace

// Estimated bytes of a defense (see Memory in mf_defense.h).
double MfDefense::EstimateBytes(const std::vector<int64_t>& class_sizes, int64_t n_users,
                                const DefenseOptions& o, int32_t dim, int threads) {
    const double d = dim, m = o.m, t = threads;
    double bytes = 4.0 * static_cast<double>(n_users) * d + 12.0 * static_cast<double>(n_users);
    double largest = 0.0;
    for (int64_t n_c : class_sizes) {
        const double s =
            static_cast<double>(o.sample <= 0 || o.sample >= n_c ? n_c : int64_t{o.sample});
        largest = std::max(largest, s);
        bytes += 8.0 * s * d + 24.0 * s * m + 16.0 * m * d + 12.0 * s * s + 4.0 * s * d +
                 8.0 * (m + s) * d;
    }
    const double K = static_cast<double>(class_sizes.size());
    const double probe = kDistanceSample;
    bytes += t * 4.0 * 64.0 * (m + largest + 2.0 * d) + 8.0 * K * probe * d + 48.0 * probe * probe;
    return bytes;
}

// Validates classes and options and draws the samples.
MfDefense::MfDefense(const std::vector<int32_t>& user_class, int32_t classes,
                     const DefenseOptions& options, int32_t dim, uint64_t seed, int threads)
    : options_(options),
      user_class_(user_class),
      classes_(classes),
      dim_(dim),
      seed_(seed),
      threads_(ResolveThreads(threads)) {
    options_.Validate();
    if (classes < 2 || classes > 65536)
        throw InvalidArgument("the defense needs between 2 and 65536 classes, got " +
                              std::to_string(classes));
    members_.assign(static_cast<size_t>(classes), {});
    for (size_t u = 0; u < user_class_.size(); ++u) {
        const int32_t c = user_class_[u];
        if (c < -1 || c >= classes)
            throw InvalidArgument("class of user " + std::to_string(u) +
                                  " must be between -1 and " + std::to_string(classes - 1) +
                                  ", got " + std::to_string(c));
        if (c >= 0) members_[c].push_back(static_cast<int32_t>(u));
    }
    for (int32_t c = 0; c < classes; ++c)
        if (members_[c].size() < 2)
            throw InvalidArgument("class " + std::to_string(c) + " has " +
                                  std::to_string(members_[c].size()) +
                                  " users; the defense needs at least 2 per class");
    std::vector<int64_t> sizes(static_cast<size_t>(classes));
    for (int32_t c = 0; c < classes; ++c) sizes[c] = static_cast<int64_t>(members_[c].size());
    CheckMemory(EstimateBytes(sizes, static_cast<int64_t>(user_class_.size()), options_, dim,
                              threads_),
                "the defense");
    sample_.resize(static_cast<size_t>(classes));
    probe_.resize(static_cast<size_t>(classes));
    for (int32_t c = 0; c < classes; ++c) {
        sample_[c] = SampleIds(members_[c], options_.sample,
                               Key(seed, kTagDefenseSample, static_cast<uint64_t>(c)));
        probe_[c] = SampleIds(members_[c], kDistanceSample,
                              Key(seed, kTagDefenseProbe, static_cast<uint64_t>(c)));
        summary_.pulled_users += static_cast<int64_t>(members_[c].size());
    }
    summary_.classes = classes;
    targets_.assign(user_class_.size() * static_cast<size_t>(dim), 0.0f);
}

// Copies the given rows of the user table into one double matrix per class.
std::vector<RowMatrixD> MfDefense::Gather(const float* user_rows, int64_t stride,
                                          const std::vector<std::vector<int32_t>>& rows) const {
    std::vector<RowMatrixD> X(rows.size());
    for (size_t c = 0; c < rows.size(); ++c) {
        X[c].resize(static_cast<int64_t>(rows[c].size()), dim_);
        for (size_t r = 0; r < rows[c].size(); ++r) {
            const float* u = user_rows + static_cast<int64_t>(rows[c][r]) * stride;
            for (int32_t k = 0; k < dim_; ++k) X[c](static_cast<int64_t>(r), k) = u[k];
        }
    }
    return X;
}

// Recomputes the barycenter (warm) and the targets of every user with a class.
void MfDefense::Recompute(const float* user_rows, int64_t stride) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<RowMatrixD> X = Gather(user_rows, stride, sample_);
    BarycenterOptions bo;
    bo.m = options_.m;
    bo.tau = options_.tau;
    bo.max_iters = summary_.recomputations == 0
                       ? std::max(options_.barycenter_iters, kColdBarycenterIters)
                       : options_.barycenter_iters;
    bo.tol = 1e-3;
    bo.sinkhorn_iters = options_.sinkhorn_iters;
    bo.sinkhorn_tol = options_.sinkhorn_tol;
    bo.seed = Key(seed_, kTagDefenseSupport);
    bo.threads = threads_;
    RowMatrixD Z;  // the support the last couplings were computed against
    const BarycenterSummary bs = Barycenter(X, {}, bo, &state_, &Z);
    SinkhornOptions so;
    so.epsilon = bs.epsilon;
    so.max_iters = options_.sinkhorn_iters;
    so.tol = options_.sinkhorn_tol;
    so.threads = threads_;
    if (self_pots_.size() != static_cast<size_t>(classes_)) self_pots_.resize(classes_);
    int64_t calls = bs.sinkhorn_calls, iters = bs.sinkhorn_iterations;
    int64_t converged = bs.sinkhorn_converged;
    double max_err = bs.max_marginal_error;
    // Self-transport of each class sample (the debiasing term): independent
    // small problems, one per thread (see Barycenter()), summed in class order.
    std::vector<SinkhornSummary> self(static_cast<size_t>(classes_));
    int64_t largest = 0;
    for (int32_t c = 0; c < classes_; ++c)
        largest = std::max<int64_t>(largest, X[c].rows() * X[c].rows());
    const bool parallel_classes = threads_ > 1 && largest < kSinkhornParallelCells;
    ParallelErrors errors;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads_) if (parallel_classes)
    for (int32_t c = 0; c < classes_; ++c)
        errors.Run(
            [&] { self[c] = SinkhornSymmetric(SelfSquaredDistances(X[c]), so, &self_pots_[c]); });
    errors.Rethrow();
    std::vector<DebiasedMapClass> maps(static_cast<size_t>(classes_));
    for (int32_t c = 0; c < classes_; ++c) {
        ++calls;
        iters += self[c].iterations;
        converged += self[c].converged ? 1 : 0;
        max_err = std::max(max_err, self[c].marginal_error);
        maps[c] = {members_[c].data(),
                   static_cast<int64_t>(members_[c].size()),
                   &Z,
                   &state_.pots[c].g,
                   &X[c],
                   &self_pots_[c].g};
    }
    // D_i = T_{c->nu}(u_i) - T_{c->c}(u_i) for every user with a class.
    DebiasedDisplacements(user_rows, stride, maps, bs.epsilon, targets_.data(), dim_, threads_);
    for (float t : targets_)
        if (!std::isfinite(t)) throw DataError("the defense produced non-finite targets");
    ++summary_.recomputations;
    summary_.sinkhorn_calls += calls;
    summary_.sinkhorn_iterations += iters;
    summary_.sinkhorn_converged += converged;
    summary_.max_marginal_error = std::max(summary_.max_marginal_error, max_err);
    summary_.defense_loss = bs.cost;
    summary_.ot_seconds += SecondsSince(t0);
}

// Class distance (mean pairwise debiased W2 over probe samples) and spread
// (mean distance of the users with a class to their mean).
double MfDefense::Measure(const float* user_rows, int64_t stride, bool before) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<RowMatrixD> P = Gather(user_rows, stride, probe_);
    double distance = 0.0;
    int64_t pairs = 0;
    for (int32_t c = 0; c < classes_; ++c) {
        for (int32_t e = c + 1; e < classes_; ++e) {
            const double median = MedianCost(SquaredDistances(P[c], P[e]));
            distance += SinkhornW2(P[c], P[e], 0.01 * std::max(median, 1e-12), 300, 1e-3, threads_);
            ++pairs;
        }
    }
    distance /= static_cast<double>(pairs);
    std::vector<double> mean(static_cast<size_t>(dim_), 0.0);
    int64_t n = 0;
    for (int32_t c = 0; c < classes_; ++c)
        for (int32_t u : members_[c]) {
            const float* x = user_rows + static_cast<int64_t>(u) * stride;
            for (int32_t k = 0; k < dim_; ++k) mean[k] += x[k];
            ++n;
        }
    for (double& v : mean) v /= static_cast<double>(n);
    double spread = 0.0;
    for (int32_t c = 0; c < classes_; ++c)
        for (int32_t u : members_[c]) {
            const float* x = user_rows + static_cast<int64_t>(u) * stride;
            double s = 0.0;
            for (int32_t k = 0; k < dim_; ++k) s += (x[k] - mean[k]) * (x[k] - mean[k]);
            spread += std::sqrt(s);
        }
    spread /= static_cast<double>(n);
    if (before) {
        summary_.class_distance_before = distance;
        summary_.spread_before = spread;
    } else {
        summary_.class_distance_after = distance;
        summary_.spread_after = spread;
    }
    return SecondsSince(t0);
}

// Changes the pull strength for the following steps.
void MfDefense::SetEta(double eta) {
    if (eta != 0.0) {
        DefenseOptions changed = options_;
        changed.eta = eta;
        changed.Validate();
    }
    options_.eta = eta;
}

}  // namespace raid
