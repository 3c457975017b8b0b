// lbfgs.h: limited-memory BFGS for smooth unconstrained minimisation.
//
// Vocabulary:
//   objective   f(x) with its gradient g(x), both evaluated by one callback
//   pair        (s_k, y_k) = (x_{k+1} - x_k, g_{k+1} - g_k); the last `memory`
//               pairs with s'y > 0 define the inverse-Hessian approximation
//   iteration   one line search along d = -H g and one pair update
//   termination why the solver stopped (a Summary, never an exception):
//                 kGradient       ||g||_inf <= gradient_tolerance
//                 kFunction       (f_k - f_{k+1}) / max(|f_k|, |f_{k+1}|, 1)
//                                 <= function_tolerance
//                 kMaxIterations  max_iterations iterations ran
//                 kLineSearch     no step satisfying the Wolfe conditions was
//                                 found (x is the best point seen)
//                 kNonFinite      f or g is not finite at the starting point
//
// Algorithm: Nocedal & Wright, Numerical Optimization (2nd ed., 2006),
// Algorithm 7.5 (L-BFGS) with the two-loop recursion of Algorithm 7.4 and the
// initial scaling H0 = (s'y / y'y) I of eq. (7.20); step lengths from the
// strong-Wolfe line search of Algorithms 3.5 and 3.6 (bracketing, then zoom by
// safeguarded cubic interpolation).  The stopping tests mirror SciPy's
// L-BFGS-B (pgtol on the infinity norm of the gradient, factr on the relative
// decrease), which is what scikit-learn's lbfgs solvers use.
#ifndef RAID_CORE_ATTACK_LBFGS_H
#define RAID_CORE_ATTACK_LBFGS_H

#include <cstdint>
#include <functional>

#include "../linalg.h"

namespace raid {

// Options of MinimizeLbfgs (the defaults are SciPy's L-BFGS-B defaults as
// scikit-learn calls it, except max_iterations).
struct LbfgsOptions {
    int32_t memory = 10;                                     // stored pairs
    int32_t max_iterations = 200;                            // iterations (line searches)
    double gradient_tolerance = 1e-5;                        // on ||g||_inf
    double function_tolerance = 64 * 2.220446049250313e-16;  // relative decrease
    int32_t max_line_search = 50;                            // evaluations per line search
    double c1 = 1e-4;                                        // sufficient decrease (Armijo)
    double c2 = 0.9;                                         // curvature (strong Wolfe)
};

enum class LbfgsTermination { kGradient, kFunction, kMaxIterations, kLineSearch, kNonFinite };

// What the solver did.
struct LbfgsSummary {
    int32_t iterations = 0;
    int32_t evaluations = 0;
    double f = 0.0;              // objective at the returned x
    double gradient_norm = 0.0;  // ||g||_inf at the returned x
    LbfgsTermination termination = LbfgsTermination::kMaxIterations;
};

// Evaluates f at x and writes its gradient to *gradient (already sized).
using LbfgsObjective = std::function<double(const Eigen::VectorXd& x, Eigen::VectorXd* gradient)>;

// Minimises f from *x (overwritten by the best point found).  Never throws
// for non-convergence; exceptions of the callback propagate.
LbfgsSummary MinimizeLbfgs(const LbfgsObjective& f, Eigen::VectorXd* x,
                           const LbfgsOptions& options = LbfgsOptions());

}  // namespace raid

#endif  // RAID_CORE_ATTACK_LBFGS_H
