// defense.h: the RAID defense loss and the maps that pull users toward the
// barycenter.
//
// Vocabulary:
//   coupling    T_c (n_c x m) between class c's users (weights a_i) and the
//               barycenter support Z (weights b_j), held fixed between
//               recomputations
//   L_def       sum_c sum_ij T_c[i,j] ||u_i - z_j||^2; with T fixed its
//               gradient is d/du_i = 2 sum_j T_c[i,j] (u_i - z_j)
//               = 2 a_i (u_i - t_i), t_i the barycentric image below
//   entropic map
//               the out-of-sample barycentric projection from the dual
//               potential g of a coupling (Pooladian & Niles-Weed, "Entropic
//               estimation of optimal transport maps", 2021):
//                 t(x) = sum_j softmax_j(log b_j + (g_j - ||x - z_j||^2) / eps) z_j
//               for a point x of the coupling's source sample it equals
//               sum_j T_ij z_j / a_i, and it gives every user of a class a
//               target even when only a sample of the class built the coupling
//   Sinkhorn divergence
//               S(mu, nu) = OT_eps(mu, nu) - (OT_eps(mu, mu) + OT_eps(nu, nu)) / 2
//               (Genevay, Peyre & Cuturi, AISTATS 2018; Feydy et al., AISTATS
//               2019): debiased, ~ W2^2 for small eps; computed here with the
//               transport part <T, C> of each entropic plan
#ifndef RAID_CORE_OT_DEFENSE_H
#define RAID_CORE_OT_DEFENSE_H

#include <cstdint>
#include <vector>

#include "sinkhorn.h"

namespace raid {

// L_def of one class with a fixed coupling T (n x m); adds its gradient with
// respect to X to *grad if not null (grad must be n x d).
double DefenseLoss(const RowMatrixD& X, const RowMatrixD& T, const RowMatrixD& Z,
                   RowMatrixD* grad = nullptr);

// Writes t(x_r) (see above) for rows r = rows[0 .. n) (or 0 .. n if rows is
// null) of x (row stride x_stride floats) to the same rows of out (row stride
// out_stride floats), in single precision (see DebiasedDisplacements).
// log_b empty = uniform.  Blocks of rows run in parallel
// on `threads` threads, each row on one thread: deterministic.
void EntropicMap(const float* x, int64_t x_stride, const int32_t* rows, int64_t n,
                 const RowMatrixD& Z, const VectorD& log_b, const VectorD& g, double epsilon,
                 float* out, int64_t out_stride, int threads);

// One class of DebiasedDisplacements(): its users (rows of the user table),
// the barycenter support Z (m x d) with the potential g_z of the class's
// coupling to it, and the class sample S (s x d) with the potential g_s of its
// self-transport; uniform weights on Z and S.
struct DebiasedMapClass {
    const int32_t* rows = nullptr;
    int64_t n = 0;
    const RowMatrixD* Z = nullptr;
    const VectorD* g_z = nullptr;
    const RowMatrixD* S = nullptr;
    const VectorD* g_s = nullptr;
};

// Writes D_r = t_Z(x_r) - t_S(x_r) (the entropic maps to Z and to S, see
// above) for every user r of every class to out (row stride out_stride).
// Single precision: the maps are softmax-weighted means of O(1) points with
// O(1..10) logits, far above float rounding, and float halves the GEMM and
// exp work (twice the SIMD lanes).  Per block of kMapBlock users: one GEMM for
// the logits against [Z; S], two softmaxes, one GEMM for the difference of
// the means.  Blocks of all classes run in one parallel region; each block is
// computed by one thread in a fixed order, so the result does not depend on
// the thread count.
void DebiasedDisplacements(const float* x, int64_t x_stride,
                           const std::vector<DebiasedMapClass>& classes, double epsilon, float* out,
                           int64_t out_stride, int threads);

// Debiased Sinkhorn divergence between uniform clouds X and Y (eps absolute);
// returns sqrt(max(S, 0)), a W2 estimate.
double SinkhornW2(const RowMatrixD& X, const RowMatrixD& Y, double epsilon, int32_t max_iters,
                  double tol, int threads);

}  // namespace raid

#endif  // RAID_CORE_OT_DEFENSE_H
