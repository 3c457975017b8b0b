// adversary.h: the adversary of in-training adversarial learning (Adv-InT,
// after Ganhor et al., "Unlearning Protected User Attributes in
// Recommendations with Adversarial Training", SIGIR 2022), a baseline users
// compare RAID against: an MLP predicts the protected attribute from the user
// embedding while the recommender trains, and the user embeddings follow the
// reversed gradient of its loss (gradient reversal, Ganin & Lempitsky 2015),
// so that they become useless to it.
//
// Vocabulary (n users, d dims, H hidden units, K classes):
//   network   h = relu(x W1 + b1), z = h W2 + b2, p = softmax(z), K outputs
//             (also for K = 2); Glorot-uniform initial weights, seeded
//   loss      cross-entropy -log p_y, mean over a minibatch, plus
//             l2 / 2 (|W1|^2 + |W2|^2)
//   training  Train(): epochs of Adam (Kingma & Ba) over the users with a
//             class, in seeded random minibatches; the weights and moments
//             persist between calls, so the adversary follows the embeddings
//             as they change (warm start)
//   reversal  InputGradients(): for each user with a class, dCE/dx of its
//             own loss.  The trainer moves the user along +w dCE/dx (ascent:
//             the reversed gradient) while the adversary descends.
//
// Cost: O(n d H) per epoch and per gradient pass; one thread; deterministic.
#ifndef RAID_CORE_TRAIN_ADVERSARY_H
#define RAID_CORE_TRAIN_ADVERSARY_H

#include <cstdint>
#include <vector>

#include "../linalg.h"

namespace raid {

struct AdversaryOptions {
    int32_t hidden = 64;
    double lr = 1e-3;
    int32_t batch = 256;
    double l2 = 1e-4;
    uint64_t seed = 42;
};

class Adversary {
  public:
    // Throws InvalidArgument for dim < 1, classes < 2, hidden < 1, batch < 1 or lr <= 0.
    Adversary(int32_t dim, int32_t classes, const AdversaryOptions& options);

    // Runs `epochs` epochs over the users with a class (user_class[u] in
    // 0 .. classes-1, -1 = none) of the n rows (stride `stride` floats);
    // returns the mean minibatch loss of the last epoch.
    double Train(const float* rows, int64_t stride, const std::vector<int32_t>& user_class, int32_t epochs);

    // grad (n x dim, row-major): dCE_u/dx_u for each user with a class, zeros
    // for the others; returns the mean cross-entropy over them.
    double InputGradients(const float* rows, int64_t stride, const std::vector<int32_t>& user_class,
                          float* grad) const;

    // The fraction of users with a class whose most probable class is theirs.
    double Accuracy(const float* rows, int64_t stride, const std::vector<int32_t>& user_class) const;

  private:
    // Hidden activations and class probabilities of the rows x (m x d).
    void Forward(const RowMatrixD& x, RowMatrixD* h, RowMatrixD* p) const;
    RowMatrixD Rows(const float* rows, int64_t stride, const std::vector<int32_t>& users) const;

    int32_t dim_, classes_;
    AdversaryOptions options_;
    RowMatrixD w1_, w2_;
    Eigen::RowVectorXd b1_, b2_;
    RowMatrixD m_w1_, v_w1_, m_w2_, v_w2_;
    Eigen::RowVectorXd m_b1_, v_b1_, m_b2_, v_b2_;
    int64_t t_ = 0;       // Adam steps so far
    int64_t epochs_ = 0;  // epochs so far (seeds each epoch's order)
};

}  // namespace raid

#endif  // RAID_CORE_TRAIN_ADVERSARY_H
