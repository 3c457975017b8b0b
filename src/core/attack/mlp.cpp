// mlp.cpp: minibatch Adam training of the one-hidden-layer MLP (see mlp.h).
#include "mlp.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "../common.h"
#include "crossval.h"

namespace raid {

namespace {

using MatrixF = Eigen::MatrixXf;
using RowVectorF = Eigen::RowVectorXf;

constexpr Eigen::Index kPredictBlock = 4096;  // rows per forward pass when predicting
constexpr int64_t kTrainWork = int64_t{1} << 24;    // multiply-adds per sub-block GEMM
constexpr int64_t kForwardWork = int64_t{1} << 26;  // multiply-adds per forward block
constexpr int64_t kMinBlockRows = 16;
constexpr const char* kWhat = "audit";

// Fills m with U(-bound, bound) draws, row by row (numpy's (fan_in, fan_out) order).
template <typename M>
void FillUniform(Rng* rng, float bound, M* m) {
    for (Eigen::Index i = 0; i < m->rows(); ++i)
        for (Eigen::Index j = 0; j < m->cols(); ++j)
            (*m)(i, j) = static_cast<float>((2.0 * rng->Uniform() - 1.0) * bound);
}

// Turns logits into probabilities in place: logistic for one column, else softmax.
void OutputActivation(MatrixF* z) {
    if (z->cols() == 1) {
        z->array() = 1.0f / (1.0f + (-z->array()).exp());
        return;
    }
    const Eigen::VectorXf row_max = z->rowwise().maxCoeff();
    z->colwise() -= row_max;
    z->array() = z->array().exp();
    const Eigen::VectorXf row_sum = z->rowwise().sum();
    z->array().colwise() /= row_sum.array();
}

// Sum over the rows of the cross-entropy of logits z against targets y
// (0/1 for one column, one-hot otherwise), computed stably from the logits.
double CrossEntropySum(const MatrixF& z, const MatrixF& y) {
    double sum = 0.0;
    if (z.cols() == 1) {
        for (Eigen::Index i = 0; i < z.rows(); ++i) {
            const double v = z(i, 0);
            // log(1 + e^v) - y v
            const double softplus = v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v));
            sum += softplus - y(i, 0) * v;
        }
        return sum;
    }
    for (Eigen::Index i = 0; i < z.rows(); ++i) {
        const double m = z.row(i).maxCoeff();
        double s = 0.0, target = 0.0;
        for (Eigen::Index c = 0; c < z.cols(); ++c) {
            s += std::exp(static_cast<double>(z(i, c)) - m);
            target += y(i, c) * z(i, c);
        }
        sum += m + std::log(s) - target;
    }
    return sum;
}

// Predicted classes from output probabilities (p > 0.5 for one column, else argmax).
int32_t PredictedClass(const MatrixF& p, Eigen::Index i) {
    if (p.cols() == 1) return p(i, 0) > 0.5f ? 1 : 0;
    Eigen::Index best = 0;
    p.row(i).maxCoeff(&best);
    return static_cast<int32_t>(best);
}

// One Adam step on parameter w with gradient g and moments m, v.
template <typename M>
void AdamStep(const M& g, float beta1, float beta2, float lr_t, float eps, M* w, M* m, M* v) {
    m->array() = beta1 * m->array() + (1.0f - beta1) * g.array();
    v->array() = beta2 * v->array() + (1.0f - beta2) * g.array().square();
    w->array() -= lr_t * m->array() / (v->array().sqrt() + eps);
}

}  // namespace

// Rows per sub-block of a minibatch.
int64_t MlpTrainRows(int64_t d, int64_t hidden, int64_t outputs) {
    return std::max(kMinBlockRows, kTrainWork / std::max<int64_t>(1, hidden * (d + outputs)));
}

// Rows per block of a forward pass (never more than kPredictBlock).
int64_t MlpForwardRows(int64_t d, int64_t hidden, int64_t outputs) {
    return std::min<int64_t>(
        kPredictBlock,
        std::max(kMinBlockRows, kForwardWork / std::max<int64_t>(1, hidden * (d + outputs))));
}

// Estimated bytes of Fit() (see Memory in mlp.h).
double MlpFitBytes(int64_t n, int64_t d, int32_t classes, const MlpOptions& o) {
    const double k = classes == 2 ? 1.0 : classes;
    const double h = o.hidden;
    const double dn = static_cast<double>(n), dd = static_cast<double>(d);
    const double train_rows = static_cast<double>(
        std::min<int64_t>(std::min<int64_t>(o.batch, n), MlpTrainRows(d, o.hidden, static_cast<int64_t>(k))));
    const double forward_rows =
        static_cast<double>(std::min<int64_t>(n, MlpForwardRows(d, o.hidden, static_cast<int64_t>(k))));
    return 2.0 * dn * dd + 4.0 * dn * k + 24.0 * dn + 20.0 * h * (dd + k + 2.0) +
           4.0 * train_rows * (dd + 3.0 * h + 3.0 * k) + 8.0 * forward_rows * (h + k);
}

// Forward() in blocks, polling between them; one block for few rows.
MatrixF Mlp::ForwardBlocks(const RowMatrixF& x) const {
    const Eigen::Index rows = static_cast<Eigen::Index>(
        MlpForwardRows(x.cols(), w1_.cols(), w2_.cols()));
    if (x.rows() <= rows) return Forward(x);
    MatrixF out(x.rows(), w2_.cols());
    for (Eigen::Index start = 0; start < x.rows(); start += rows) {
        ThrowIfInterrupted(kWhat);
        const Eigen::Index len = std::min(rows, x.rows() - start);
        out.middleRows(start, len) = Forward(x.middleRows(start, len));
    }
    return out;
}

// Output-layer probabilities of x.
MatrixF Mlp::Forward(const Eigen::Ref<const RowMatrixF>& x) const {
    MatrixF a1 = x * w1_;
    a1.rowwise() += b1_;
    a1 = a1.cwiseMax(0.0f);
    MatrixF z2 = a1 * w2_;
    z2.rowwise() += b2_;
    OutputActivation(&z2);
    return z2;
}

// Trains the network (see mlp.h for the exact procedure).
void Mlp::Fit(const RowMatrixF& x, const int32_t* labels, const int64_t* ids, int32_t classes,
              const MlpOptions& o, uint64_t seed) {
    classes_ = classes;
    summary_ = MlpSummary();
    const Eigen::Index n = x.rows();
    const Eigen::Index d = x.cols();
    const Eigen::Index h = o.hidden;
    const Eigen::Index k = classes == 2 ? 1 : classes;

    // Holdout for early stopping; the rest is trained on, in id order.
    const std::vector<uint8_t> holdout =
        StratifiedHoldout(ids, labels, n, classes, o.validation, seed);
    std::vector<Eigen::Index> train_rows, val_rows;
    for (Eigen::Index i = 0; i < n; ++i) (holdout[i] ? val_rows : train_rows).push_back(i);
    const Eigen::Index n_train = static_cast<Eigen::Index>(train_rows.size());
    const Eigen::Index n_val = static_cast<Eigen::Index>(val_rows.size());
    if (n_train == 0) throw InvalidArgument("the MLP needs at least one training sample");
    summary_.train_samples = n_train;
    summary_.validation_samples = n_val;
    RowMatrixF x_val(n_val, d);
    std::vector<int32_t> y_val(static_cast<size_t>(n_val));
    for (Eigen::Index r = 0; r < n_val; ++r) {
        x_val.row(r) = x.row(val_rows[r]);
        y_val[r] = labels[val_rows[r]];
    }
    MatrixF targets = MatrixF::Zero(n_train, k);  // 0/1 or one-hot rows
    for (Eigen::Index r = 0; r < n_train; ++r) {
        const int32_t y = labels[train_rows[r]];
        if (k == 1)
            targets(r, 0) = static_cast<float>(y);
        else
            targets(r, y) = 1.0f;
    }

    // Glorot-uniform initialisation, weights then biases, layer by layer.
    Rng init(Key(seed, kTagMlpInit));
    w1_.resize(d, h);
    b1_.resize(h);
    w2_.resize(h, k);
    b2_.resize(k);
    const float bound1 = static_cast<float>(std::sqrt(6.0 / static_cast<double>(d + h)));
    const float bound2 = static_cast<float>(std::sqrt(6.0 / static_cast<double>(h + k)));
    FillUniform(&init, bound1, &w1_);
    FillUniform(&init, bound1, &b1_);
    FillUniform(&init, bound2, &w2_);
    FillUniform(&init, bound2, &b2_);

    // Adam moments and the best weights so far.
    MatrixF m_w1 = MatrixF::Zero(d, h), v_w1 = MatrixF::Zero(d, h);
    MatrixF m_w2 = MatrixF::Zero(h, k), v_w2 = MatrixF::Zero(h, k);
    RowVectorF m_b1 = RowVectorF::Zero(h), v_b1 = RowVectorF::Zero(h);
    RowVectorF m_b2 = RowVectorF::Zero(k), v_b2 = RowVectorF::Zero(k);
    MatrixF best_w1 = w1_, best_w2 = w2_;
    RowVectorF best_b1 = b1_, best_b2 = b2_;

    const Eigen::Index batch = std::min<Eigen::Index>(o.batch, n_train);
    const float l2 = static_cast<float>(o.l2);
    const float beta1 = static_cast<float>(o.beta1), beta2 = static_cast<float>(o.beta2);
    const float eps = static_cast<float>(o.epsilon);
    const Eigen::Index sub_rows = static_cast<Eigen::Index>(MlpTrainRows(d, h, k));
    RowMatrixF xb(std::min(batch, sub_rows), d);
    MatrixF yb(batch, k), z1, a1, z2, d1, d2, g_w1, g_w2;
    RowVectorF g_b1, g_b2;
    std::vector<Eigen::Index> order(static_cast<size_t>(n_train));
    int64_t step = 0;
    double best_accuracy = -std::numeric_limits<double>::infinity();
    int32_t no_improvement = 0;

    for (int32_t epoch = 1; epoch <= o.max_epochs; ++epoch) {
        // A fresh seeded permutation (Fisher-Yates) for this epoch.
        std::iota(order.begin(), order.end(), Eigen::Index{0});
        Rng shuffle(Key(seed, kTagMlpShuffle, static_cast<uint64_t>(epoch)));
        for (Eigen::Index i = n_train - 1; i > 0; --i)
            std::swap(order[i], order[shuffle.Below(static_cast<uint64_t>(i) + 1)]);

        double epoch_loss = 0.0;
        for (Eigen::Index start = 0; start < n_train; start += batch) {
            ThrowIfInterrupted(kWhat);
            const Eigen::Index b = std::min(batch, n_train - start);
            const double penalty =
                0.5 * o.l2 * (static_cast<double>(w1_.squaredNorm()) + w2_.squaredNorm());
            // The minibatch in sub-blocks of at most sub_rows rows: the
            // gradients' sums over the rows accumulate across sub-blocks (a
            // minibatch of at most sub_rows rows is one sub-block).
            double cross_entropy = 0.0;
            for (Eigen::Index s0 = start; s0 < start + b; s0 += sub_rows) {
                const bool first = s0 == start;
                if (!first) ThrowIfInterrupted(kWhat);
                const Eigen::Index rows = std::min(sub_rows, start + b - s0);
                xb.resize(rows, d);
                yb.resize(rows, k);
                for (Eigen::Index r = 0; r < rows; ++r) {
                    const Eigen::Index s = order[s0 + r];
                    xb.row(r) = x.row(train_rows[s]);
                    yb.row(r) = targets.row(s);
                }
                // Forward pass.
                z1.noalias() = xb * w1_;
                z1.rowwise() += b1_;
                a1 = z1.cwiseMax(0.0f);
                z2.noalias() = a1 * w2_;
                z2.rowwise() += b2_;
                cross_entropy += CrossEntropySum(z2, yb);
                OutputActivation(&z2);
                // Backward pass: delta of the output is p - y for both output kinds.
                d2 = z2 - yb;
                if (first) {
                    g_w2.noalias() = a1.transpose() * d2;
                    g_b2 = d2.colwise().sum();
                } else {
                    g_w2.noalias() += a1.transpose() * d2;
                    g_b2 += d2.colwise().sum();
                }
                d1.noalias() = d2 * w2_.transpose();
                d1 = (z1.array() > 0.0f).select(d1, 0.0f);
                if (first) {
                    g_w1.noalias() = xb.transpose() * d1;
                    g_b1 = d1.colwise().sum();
                } else {
                    g_w1.noalias() += xb.transpose() * d1;
                    g_b1 += d1.colwise().sum();
                }
            }
            epoch_loss += cross_entropy + penalty;  // = B * batch loss
            const float inv_b = 1.0f / static_cast<float>(b);
            g_w2 = (g_w2 + l2 * w2_) * inv_b;
            g_b2 = g_b2 * inv_b;
            g_w1 = (g_w1 + l2 * w1_) * inv_b;
            g_b1 = g_b1 * inv_b;
            // Adam with scikit-learn's folded bias correction.
            ++step;
            const double t = static_cast<double>(step);
            const float lr_t = static_cast<float>(o.lr * std::sqrt(1.0 - std::pow(o.beta2, t)) /
                                                  (1.0 - std::pow(o.beta1, t)));
            AdamStep(g_w1, beta1, beta2, lr_t, eps, &w1_, &m_w1, &v_w1);
            AdamStep(g_b1, beta1, beta2, lr_t, eps, &b1_, &m_b1, &v_b1);
            AdamStep(g_w2, beta1, beta2, lr_t, eps, &w2_, &m_w2, &v_w2);
            AdamStep(g_b2, beta1, beta2, lr_t, eps, &b2_, &m_b2, &v_b2);
        }
        summary_.epochs = epoch;
        summary_.loss = epoch_loss / static_cast<double>(n_train);
        if (!std::isfinite(summary_.loss))
            throw DataError("the MLP's training loss is not finite in epoch " +
                            std::to_string(epoch));
        if (n_val == 0) continue;

        // Early stopping on the holdout's accuracy (scikit-learn's rule).
        ThrowIfInterrupted(kWhat);
        const MatrixF p = ForwardBlocks(x_val);
        int64_t correct = 0;
        for (Eigen::Index r = 0; r < n_val; ++r) correct += PredictedClass(p, r) == y_val[r];
        const double accuracy = static_cast<double>(correct) / static_cast<double>(n_val);
        if (accuracy < best_accuracy + o.tol)
            ++no_improvement;
        else
            no_improvement = 0;
        if (accuracy > best_accuracy) {
            best_accuracy = accuracy;
            summary_.best_epoch = epoch;
            summary_.best_validation_accuracy = accuracy;
            best_w1 = w1_;
            best_b1 = b1_;
            best_w2 = w2_;
            best_b2 = b2_;
        }
        if (no_improvement > o.patience) break;
    }
    if (n_val > 0) {
        w1_ = std::move(best_w1);
        b1_ = std::move(best_b1);
        w2_ = std::move(best_w2);
        b2_ = std::move(best_b2);
    } else {
        summary_.best_epoch = summary_.epochs;
    }
}

// Class probabilities, n x classes, computed block by block.
Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> Mlp::PredictProba(
    const RowMatrixF& x) const {
    Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> out(x.rows(), classes_);
    const Eigen::Index block = static_cast<Eigen::Index>(MlpForwardRows(x.cols(), w1_.cols(), w2_.cols()));
    for (Eigen::Index start = 0; start < x.rows(); start += block) {
        ThrowIfInterrupted(kWhat);
        const Eigen::Index rows = std::min(block, x.rows() - start);
        const MatrixF p = Forward(x.middleRows(start, rows));
        if (classes_ == 2) {
            out.block(start, 1, rows, 1) = p.cast<double>();
            out.block(start, 0, rows, 1) = (1.0 - p.cast<double>().array()).matrix();
        } else {
            out.middleRows(start, rows) = p.cast<double>();
        }
    }
    return out;
}

}  // namespace raid
