// lbfgs.cpp: L-BFGS with a strong-Wolfe line search (see lbfgs.h).
#include "lbfgs.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>

namespace raid {

namespace {

constexpr double kMaxStep = 1e10;     // upper bound of a trial step length
constexpr double kExtrapolate = 2.0;  // growth of the trial step while bracketing
constexpr double kSafeguard = 0.1;    // interpolated steps keep this share of the bracket
                                      // away from its ends

// One evaluated point along the search direction.
struct Trial {
    double alpha = 0.0;
    double f = 0.0;
    double slope = 0.0;  // directional derivative g(x + alpha d)' d
    Eigen::VectorXd x;
    Eigen::VectorXd g;
    bool finite = false;
};

// The strong-Wolfe line search of Nocedal & Wright, Algorithms 3.5 and 3.6.
class LineSearch {
  public:
    LineSearch(const LbfgsObjective& f, const LbfgsOptions& o, const Eigen::VectorXd& x,
               const Eigen::VectorXd& d, double f0, double slope0, int32_t* evaluations)
        : f_(f), o_(o), x_(x), d_(d), f0_(f0), slope0_(slope0), evaluations_(evaluations) {}

    // Searches from alpha_init; returns true with *out set to an accepted
    // point, or false (with *out the best decreasing point seen, if any).
    bool Run(double alpha_init, Trial* out) {
        Trial prev;
        prev.alpha = 0.0;
        prev.f = f0_;
        prev.slope = slope0_;
        prev.finite = true;
        double alpha = alpha_init;
        for (int32_t i = 0; budget_left(); ++i) {
            Trial t = Evaluate(alpha);
            if (!t.finite || t.f > f0_ + o_.c1 * alpha * slope0_ || (i > 0 && t.f >= prev.f))
                return Zoom(prev, t, out);
            if (std::fabs(t.slope) <= -o_.c2 * slope0_) {
                *out = std::move(t);
                return true;
            }
            if (t.slope >= 0.0) return Zoom(t, prev, out);
            prev = std::move(t);
            alpha = std::min(alpha * kExtrapolate, kMaxStep);
            if (prev.alpha >= kMaxStep) break;
        }
        return Fallback(out);
    }

  private:
    bool budget_left() const { return used_ < o_.max_line_search; }

    // Evaluates f and the slope at x + alpha d, remembering the best decrease.
    Trial Evaluate(double alpha) {
        Trial t;
        t.alpha = alpha;
        t.x = x_ + alpha * d_;
        t.g.resize(x_.size());
        t.f = f_(t.x, &t.g);
        ++used_;
        ++*evaluations_;
        t.slope = t.g.dot(d_);
        t.finite = std::isfinite(t.f) && std::isfinite(t.slope);
        if (t.finite && t.f < f0_ && (!have_best_ || t.f < best_.f)) {
            best_ = t;
            have_best_ = true;
        }
        return t;
    }

    // Algorithm 3.6: lo satisfies sufficient decrease and has the lower f of
    // the two; the bracket [lo, hi] (either order) contains acceptable steps.
    bool Zoom(Trial lo, Trial hi, Trial* out) {
        while (budget_left()) {
            const double alpha = Interpolate(lo, hi);
            Trial t = Evaluate(alpha);
            if (!t.finite || t.f > f0_ + o_.c1 * alpha * slope0_ || t.f >= lo.f) {
                hi = std::move(t);
            } else {
                if (std::fabs(t.slope) <= -o_.c2 * slope0_) {
                    *out = std::move(t);
                    return true;
                }
                if (t.slope * (hi.alpha - lo.alpha) >= 0.0) hi = lo;
                lo = std::move(t);
            }
            if (std::fabs(hi.alpha - lo.alpha) <= 1e-16 * std::max(1.0, lo.alpha)) break;
        }
        return Fallback(out);
    }

    // Minimiser of the cubic through (lo, hi) (N&W eq. 3.59), kept inside the
    // bracket by the safeguard; bisection when the cubic is unusable.
    static double Interpolate(const Trial& lo, const Trial& hi) {
        const double a = lo.alpha, b = hi.alpha;
        const double left = std::min(a, b), width = std::fabs(b - a);
        const double bisect = 0.5 * (a + b);
        if (!hi.finite || width == 0.0) return bisect;
        const double d1 = lo.slope + hi.slope - 3.0 * (lo.f - hi.f) / (a - b);
        const double radicand = d1 * d1 - lo.slope * hi.slope;
        if (!(radicand >= 0.0)) return bisect;
        const double d2 = std::copysign(std::sqrt(radicand), b - a);
        const double denominator = hi.slope - lo.slope + 2.0 * d2;
        if (denominator == 0.0) return bisect;
        const double alpha = b - (b - a) * (hi.slope + d2 - d1) / denominator;
        if (!std::isfinite(alpha)) return bisect;
        return std::clamp(alpha, left + kSafeguard * width, left + (1.0 - kSafeguard) * width);
    }

    // After a failed search: the best decreasing point seen, if any.
    bool Fallback(Trial* out) {
        if (have_best_) *out = best_;
        return false;
    }

    const LbfgsObjective& f_;
    const LbfgsOptions& o_;
    const Eigen::VectorXd& x_;
    const Eigen::VectorXd& d_;
    const double f0_;
    const double slope0_;
    int32_t* evaluations_;
    int32_t used_ = 0;
    Trial best_;
    bool have_best_ = false;
};

// One stored curvature pair with rho = 1 / (y's).
struct Pair {
    Eigen::VectorXd s, y;
    double rho = 0.0;
};

// Algorithm 7.4: returns H g for the L-BFGS inverse-Hessian approximation.
Eigen::VectorXd TwoLoop(const std::deque<Pair>& pairs, const Eigen::VectorXd& g) {
    Eigen::VectorXd q = g;
    std::vector<double> alpha(pairs.size());
    for (size_t k = pairs.size(); k-- > 0;) {
        alpha[k] = pairs[k].rho * pairs[k].s.dot(q);
        q -= alpha[k] * pairs[k].y;
    }
    if (!pairs.empty()) {
        const Pair& last = pairs.back();
        q *= last.s.dot(last.y) / last.y.squaredNorm();  // H0 = gamma I, eq. (7.20)
    }
    for (size_t k = 0; k < pairs.size(); ++k) {
        const double beta = pairs[k].rho * pairs[k].y.dot(q);
        q += (alpha[k] - beta) * pairs[k].s;
    }
    return q;
}

double InfNorm(const Eigen::VectorXd& v) { return v.size() > 0 ? v.cwiseAbs().maxCoeff() : 0.0; }

}  // namespace

// Algorithm 7.5 of Nocedal & Wright with the stopping tests of SciPy's L-BFGS-B.
LbfgsSummary MinimizeLbfgs(const LbfgsObjective& f, Eigen::VectorXd* x,
                           const LbfgsOptions& options) {
    LbfgsSummary summary;
    Eigen::VectorXd g(x->size());
    double fx = f(*x, &g);
    summary.evaluations = 1;
    summary.f = fx;
    summary.gradient_norm = InfNorm(g);
    if (!std::isfinite(fx) || !g.allFinite()) {
        summary.termination = LbfgsTermination::kNonFinite;
        return summary;
    }
    if (summary.gradient_norm <= options.gradient_tolerance) {
        summary.termination = LbfgsTermination::kGradient;
        return summary;
    }
    std::deque<Pair> pairs;
    const size_t memory = static_cast<size_t>(std::max(options.memory, 1));
    while (summary.iterations < options.max_iterations) {
        Eigen::VectorXd d = -TwoLoop(pairs, g);
        double slope = g.dot(d);
        if (!(slope < 0.0) && !pairs.empty()) {  // lost descent (rounding): restart
            pairs.clear();
            d = -g;
            slope = g.dot(d);
        }
        // Without curvature pairs d = -g is unscaled: try a unit-length step first.
        const double alpha0 = pairs.empty() ? std::min(1.0, 1.0 / d.norm()) : 1.0;
        Trial t;
        LineSearch search(f, options, *x, d, fx, slope, &summary.evaluations);
        const bool ok = search.Run(alpha0, &t);
        if (!ok) {
            // No Wolfe step: take the best decrease seen, if any, and drop the
            // curvature pairs (the next direction is -g); stop when even the
            // steepest-descent search finds no decrease.
            const bool had_pairs = !pairs.empty();
            pairs.clear();
            if (t.x.size() == 0) {
                if (had_pairs) continue;
                summary.termination = LbfgsTermination::kLineSearch;
                break;
            }
        }
        Pair p;
        p.s = t.x - *x;
        p.y = t.g - g;
        const double sy = p.s.dot(p.y);
        const double f_old = fx;
        *x = std::move(t.x);
        fx = t.f;
        g = std::move(t.g);
        ++summary.iterations;
        // Keep the pair only with positive curvature (always true under the
        // Wolfe conditions, up to rounding), so that H stays positive definite.
        if (ok && sy > std::numeric_limits<double>::epsilon() * p.y.squaredNorm()) {
            p.rho = 1.0 / sy;
            pairs.push_back(std::move(p));
            if (pairs.size() > memory) pairs.pop_front();
        }
        if (InfNorm(g) <= options.gradient_tolerance) {
            summary.termination = LbfgsTermination::kGradient;
            break;
        }
        if ((f_old - fx) / std::max({std::fabs(f_old), std::fabs(fx), 1.0}) <=
            options.function_tolerance) {
            summary.termination = LbfgsTermination::kFunction;
            break;
        }
        summary.termination = LbfgsTermination::kMaxIterations;
    }
    summary.f = fx;
    summary.gradient_norm = InfNorm(g);
    return summary;
}

}  // namespace raid
