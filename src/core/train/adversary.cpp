// adversary.cpp: see adversary.h.
#include "adversary.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "../common.h"

namespace raid {
namespace {

// One Adam update of w with gradient g (moments m, v; step t >= 1).
template <typename M>
void AdamStep(M* w, const M& g, M* m, M* v, double lr, int64_t t) {
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    *m = b1 * *m + (1.0 - b1) * g;
    *v = b2 * *v + (1.0 - b2) * g.cwiseProduct(g);
    const double lr_t = lr * std::sqrt(1.0 - std::pow(b2, static_cast<double>(t))) /
                        (1.0 - std::pow(b1, static_cast<double>(t)));
    *w -= (lr_t * m->array() / (v->array().sqrt() + eps)).matrix();
}

std::vector<int32_t> Labelled(const std::vector<int32_t>& user_class, int32_t classes) {
    std::vector<int32_t> users;
    for (size_t u = 0; u < user_class.size(); ++u) {
        if (user_class[u] < -1 || user_class[u] >= classes)
            throw InvalidArgument("adversary: class of user " + std::to_string(u) + " out of range");
        if (user_class[u] >= 0) users.push_back(static_cast<int32_t>(u));
    }
    return users;
}

}  // namespace

Adversary::Adversary(int32_t dim, int32_t classes, const AdversaryOptions& options)
    : dim_(dim), classes_(classes), options_(options) {
    if (dim < 1 || classes < 2 || options.hidden < 1 || options.batch < 1 || !(options.lr > 0) ||
        !(options.l2 >= 0))
        throw InvalidArgument("adversary: dim >= 1, classes >= 2, hidden >= 1, batch >= 1, lr > 0, l2 >= 0");
    const int32_t hidden = options.hidden;
    Rng rng(Key(options.seed, kTagAdversary, 0));
    const auto init = [&](RowMatrixD* w, int32_t rows, int32_t cols) {
        const double r = std::sqrt(6.0 / (rows + cols));
        w->resize(rows, cols);
        for (Eigen::Index i = 0; i < w->size(); ++i) w->data()[i] = (2.0 * rng.Uniform() - 1.0) * r;
    };
    init(&w1_, dim, hidden);
    init(&w2_, hidden, classes);
    b1_ = Eigen::RowVectorXd::Zero(hidden);
    b2_ = Eigen::RowVectorXd::Zero(classes);
    m_w1_ = v_w1_ = RowMatrixD::Zero(dim, hidden);
    m_w2_ = v_w2_ = RowMatrixD::Zero(hidden, classes);
    m_b1_ = v_b1_ = Eigen::RowVectorXd::Zero(hidden);
    m_b2_ = v_b2_ = Eigen::RowVectorXd::Zero(classes);
}

RowMatrixD Adversary::Rows(const float* rows, int64_t stride, const std::vector<int32_t>& users) const {
    RowMatrixD x(static_cast<Eigen::Index>(users.size()), dim_);
    for (size_t i = 0; i < users.size(); ++i)
        for (int32_t k = 0; k < dim_; ++k) x(i, k) = rows[static_cast<int64_t>(users[i]) * stride + k];
    return x;
}

void Adversary::Forward(const RowMatrixD& x, RowMatrixD* h, RowMatrixD* p) const {
    *h = ((x * w1_).rowwise() + b1_).cwiseMax(0.0);
    RowMatrixD z = (*h * w2_).rowwise() + b2_;
    for (Eigen::Index i = 0; i < z.rows(); ++i) {
        const double top = z.row(i).maxCoeff();
        z.row(i) = (z.row(i).array() - top).exp().matrix();
        z.row(i) /= z.row(i).sum();
    }
    *p = std::move(z);
}

double Adversary::Train(const float* rows, int64_t stride, const std::vector<int32_t>& user_class,
                        int32_t epochs) {
    std::vector<int32_t> users = Labelled(user_class, classes_);
    if (users.empty()) return 0.0;
    double last = 0.0;
    for (int32_t e = 0; e < epochs; ++e) {
        Rng rng(Key(options_.seed, kTagAdversary, static_cast<uint64_t>(++epochs_)));
        for (size_t i = users.size(); i > 1; --i) std::swap(users[i - 1], users[rng.Below(i)]);
        double sum = 0.0;
        int64_t batches = 0;
        for (size_t b = 0; b < users.size(); b += static_cast<size_t>(options_.batch)) {
            ThrowIfInterrupted("training the adversary");
            const std::vector<int32_t> batch(users.begin() + static_cast<std::ptrdiff_t>(b),
                                             users.begin() + static_cast<std::ptrdiff_t>(
                                                                 std::min(users.size(), b + options_.batch)));
            const RowMatrixD x = Rows(rows, stride, batch);
            RowMatrixD h, p;
            Forward(x, &h, &p);
            const double m = static_cast<double>(batch.size());
            double loss = 0.0;
            RowMatrixD dz = p;
            for (size_t i = 0; i < batch.size(); ++i) {
                const int32_t y = user_class[batch[i]];
                loss -= std::log(std::max(p(i, y), 1e-300));
                dz(i, y) -= 1.0;
            }
            dz /= m;
            loss = loss / m + 0.5 * options_.l2 * (w1_.squaredNorm() + w2_.squaredNorm());
            const RowMatrixD g_w2 = h.transpose() * dz + options_.l2 * w2_;
            const Eigen::RowVectorXd g_b2 = dz.colwise().sum();
            const RowMatrixD dh = (dz * w2_.transpose()).cwiseProduct((h.array() > 0.0).cast<double>().matrix());
            const RowMatrixD g_w1 = x.transpose() * dh + options_.l2 * w1_;
            const Eigen::RowVectorXd g_b1 = dh.colwise().sum();
            ++t_;
            AdamStep(&w1_, g_w1, &m_w1_, &v_w1_, options_.lr, t_);
            AdamStep(&w2_, g_w2, &m_w2_, &v_w2_, options_.lr, t_);
            AdamStep(&b1_, g_b1, &m_b1_, &v_b1_, options_.lr, t_);
            AdamStep(&b2_, g_b2, &m_b2_, &v_b2_, options_.lr, t_);
            sum += loss;
            ++batches;
        }
        last = sum / static_cast<double>(batches);
    }
    return last;
}

double Adversary::InputGradients(const float* rows, int64_t stride, const std::vector<int32_t>& user_class,
                                 float* grad) const {
    const std::vector<int32_t> users = Labelled(user_class, classes_);
    std::fill(grad, grad + static_cast<int64_t>(user_class.size()) * dim_, 0.0f);
    double loss = 0.0;
    constexpr size_t kBlock = 1024;
    for (size_t b = 0; b < users.size(); b += kBlock) {
        ThrowIfInterrupted("the adversary's gradients");
        const std::vector<int32_t> block(users.begin() + static_cast<std::ptrdiff_t>(b),
                                         users.begin() + static_cast<std::ptrdiff_t>(std::min(users.size(), b + kBlock)));
        const RowMatrixD x = Rows(rows, stride, block);
        RowMatrixD h, p;
        Forward(x, &h, &p);
        RowMatrixD dz = p;
        for (size_t i = 0; i < block.size(); ++i) {
            const int32_t y = user_class[block[i]];
            loss -= std::log(std::max(p(i, y), 1e-300));
            dz(i, y) -= 1.0;
        }
        const RowMatrixD dh = (dz * w2_.transpose()).cwiseProduct((h.array() > 0.0).cast<double>().matrix());
        const RowMatrixD dx = dh * w1_.transpose();
        for (size_t i = 0; i < block.size(); ++i)
            for (int32_t k = 0; k < dim_; ++k) grad[static_cast<int64_t>(block[i]) * dim_ + k] = static_cast<float>(dx(i, k));
    }
    return users.empty() ? 0.0 : loss / static_cast<double>(users.size());
}

double Adversary::Accuracy(const float* rows, int64_t stride, const std::vector<int32_t>& user_class) const {
    const std::vector<int32_t> users = Labelled(user_class, classes_);
    if (users.empty()) return 0.0;
    RowMatrixD h, p;
    Forward(Rows(rows, stride, users), &h, &p);
    int64_t right = 0;
    for (size_t i = 0; i < users.size(); ++i) {
        Eigen::Index best;
        p.row(i).maxCoeff(&best);
        right += best == user_class[users[i]];
    }
    return static_cast<double>(right) / static_cast<double>(users.size());
}

}  // namespace raid
