// dp.cpp: see dp.h.
#include "dp.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <vector>

#include "../common.h"

namespace raid {
namespace {

constexpr int64_t kPollRows = 4096;

// log Phi(x), the standard normal CDF, without underflow for x down to -37.
double LogPhi(double x) { return std::log(0.5 * std::erfc(-x / std::sqrt(2.0))); }

// The norm the mechanism clips: L2, or L1 for the Laplace mechanism.
double RowNorm(const float* x, int32_t dim, bool l1) {
    double s = 0.0;
    for (int32_t k = 0; k < dim; ++k) s += l1 ? std::fabs(x[k]) : static_cast<double>(x[k]) * x[k];
    return l1 ? s : std::sqrt(s);
}

}  // namespace

double AnalyticGaussianDelta(double sensitivity, double epsilon, double sigma) {
    const double a = sensitivity / (2.0 * sigma);
    const double b = epsilon * sigma / sensitivity;
    const double first = std::exp(LogPhi(a - b));
    const double second = std::exp(epsilon + LogPhi(-a - b));
    return first - second;
}

double AnalyticGaussianSigma(double sensitivity, double epsilon, double delta) {
    if (!(sensitivity > 0) || !(epsilon > 0) || !(delta > 0) || !(delta < 1))
        throw InvalidArgument("the Gaussian mechanism needs sensitivity > 0, epsilon > 0 and 0 < delta < 1");
    // delta(sigma) falls from 1 - 0 toward 0 as sigma grows: bracket, then bisect
    double lo = sensitivity * 1e-6, hi = sensitivity;
    while (AnalyticGaussianDelta(sensitivity, epsilon, hi) > delta) hi *= 2.0;
    while (AnalyticGaussianDelta(sensitivity, epsilon, lo) <= delta && lo > 1e-300) lo *= 0.5;
    for (int it = 0; it < 200 && hi / lo > 1.0 + 1e-12; ++it) {
        const double mid = std::sqrt(lo * hi);
        if (AnalyticGaussianDelta(sensitivity, epsilon, mid) > delta)
            lo = mid;
        else
            hi = mid;
    }
    return hi;
}

raid_posthoc_summary DpNoise(float* rows, int64_t n, int32_t dim, double epsilon, double delta,
                             double clip, uint64_t seed, int threads) {
    const auto t0 = std::chrono::steady_clock::now();
    if (n < 0 || dim < 1 || (n > 0 && rows == nullptr)) throw InvalidArgument("DP noise: bad sizes");
    if (!(epsilon > 0) || !std::isfinite(epsilon)) throw InvalidArgument("DP noise: epsilon must be > 0");
    if (!(delta >= 0) || !(delta < 1)) throw InvalidArgument("DP noise: delta must be in [0, 1)");
    const bool laplace = delta == 0.0;
    CheckMemory(8.0 * static_cast<double>(n), "DP noise");
    const int nt = ResolveThreads(threads);
    std::vector<double> norms(static_cast<size_t>(n));
    StopFlag stop;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t r = 0; r < n; ++r) {
        if (r % kPollRows == 0 ? stop.Poll() : stop.stopped()) continue;
        norms[r] = RowNorm(rows + r * dim, dim, laplace);
    }
    stop.ThrowIfStopped("DP noise");

    raid_posthoc_summary out{};
    if (clip <= 0) {  // the median norm (the upper median for an even n)
        if (n == 0) return out;
        std::vector<double> sorted(norms);
        std::nth_element(sorted.begin(), sorted.begin() + n / 2, sorted.end());
        clip = sorted[n / 2];
        if (!(clip > 0)) clip = std::numeric_limits<float>::min();  // all rows zero
    }
    const double sensitivity = 2.0 * clip;
    const double scale = laplace ? sensitivity / epsilon : AnalyticGaussianSigma(sensitivity, epsilon, delta);
    int64_t clipped = 0;
    double moved2 = 0.0;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(+ : clipped, moved2)
    for (int64_t r = 0; r < n; ++r) {
        if (r % kPollRows == 0 ? stop.Poll() : stop.stopped()) continue;
        float* x = rows + r * dim;
        const double shrink = norms[r] > clip ? clip / norms[r] : 1.0;
        clipped += norms[r] > clip;
        Rng rng(Key(seed, kTagDpNoise, static_cast<uint64_t>(r)));
        for (int32_t k = 0; k < dim; ++k) {
            double noise;
            if (laplace) {  // inverse CDF of Laplace(0, b) from a uniform in (0, 1)
                const double u = rng.Uniform() - 0.5;
                noise = -scale * std::copysign(1.0, u) * std::log1p(-2.0 * std::fabs(u));
            } else {
                noise = scale * rng.Normal();
            }
            const float v = static_cast<float>(x[k] * shrink + noise);
            moved2 += (static_cast<double>(v) - x[k]) * (static_cast<double>(v) - x[k]);
            x[k] = v;
        }
    }
    stop.ThrowIfStopped("DP noise");
    out.moved_users = n;
    out.mean_shift = n > 0 ? std::sqrt(moved2 / static_cast<double>(n)) : 0.0;
    out.clip = clip;
    out.noise_scale = scale;
    out.clipped_users = clipped;
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return out;
}

}  // namespace raid
