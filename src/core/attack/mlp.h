// mlp.h: the MLP attacker, a one-hidden-layer ReLU network trained with Adam.
//
// Vocabulary (n samples, d features, H hidden units, K classes):
//   outputs    K' = 1 for K = 2 (a logistic output, p = P(class 1)), K' = K
//              otherwise (softmax); both with cross-entropy loss, as
//              scikit-learn's MLPClassifier
//   weights    W1 (d x H), b1 (H), W2 (H x K'), b2 (K'), float; Glorot-uniform
//              initialisation as scikit-learn's: every weight and bias of a
//              layer ~ U(-r, r), r = sqrt(6 / (fan_in + fan_out))
//   batch loss mean cross-entropy + l2 / (2 B) * (|W1|^2 + |W2|^2) over a
//              minibatch of B samples (biases unpenalised); its gradient is
//              (A^T delta + l2 W) / B, as in scikit-learn's _backprop
//   epoch      one pass over the training samples in a seeded random order,
//              in minibatches of min(batch, n) (the last one may be smaller)
//   Adam       Kingma & Ba (ICLR 2015) with scikit-learn's bias correction:
//              lr_t = lr sqrt(1 - beta2^t) / (1 - beta1^t),
//              w -= lr_t m / (sqrt(v) + eps), t counting minibatches
//   early stopping  a stratified holdout of the training samples
//              (StratifiedHoldout, fraction `validation`) is not trained on;
//              after each epoch its accuracy is computed; an epoch whose
//              accuracy is below best + tol counts as "no improvement"
//              (otherwise the count resets); training stops once the count
//              exceeds `patience` (i.e. after patience + 1 such epochs in a
//              row, exactly scikit-learn's rule) or after max_epochs; the
//              weights of the best-accuracy epoch (the first one reaching it)
//              are kept.  Without a holdout (every class has one training
//              sample) all max_epochs run and the last weights are kept.
//
// Work blocks: a minibatch is processed in sub-blocks of at most
// TrainRows(d, H, K') rows (the gradients are summed over them), and
// forward passes over many rows in blocks of ForwardRows(d, H, K') rows, so
// that one block is at most a few tens of millions of multiply-adds; the
// interrupt check (common.h) is polled per minibatch and per block, and
// Fit() throws Interrupted("audit cancelled").  With the default sizes every
// minibatch is one sub-block.
//
// Memory (MlpFitBytes), for n samples: the holdout copy and targets
// (2 n d + 4 n K'), the weights with their Adam moments, best copy and
// gradient (20 H (d + K')), the activations of one sub-block
// (4 R (d + 3 H + 3 K')) and of one forward block (8 F (H + K')).
//
// Determinism: initial weights from Key(seed, kTagMlpInit), the order of
// epoch e from Key(seed, kTagMlpShuffle, e), the holdout from the ids; one
// thread only (Eigen does not parallelise), so the same inputs and seed give
// bit-identical weights.
#ifndef RAID_CORE_ATTACK_MLP_H
#define RAID_CORE_ATTACK_MLP_H

#include <cstdint>

#include "../linalg.h"

namespace raid {

// Hyperparameters of the MLP (scikit-learn's MLPClassifier defaults with
// early_stopping=True).
struct MlpOptions {
    int32_t hidden = 100;      // hidden ReLU units
    int32_t max_epochs = 200;  // scikit-learn's max_iter
    int32_t batch = 200;       // minibatch size (capped at the training size)
    double lr = 1e-3;          // Adam step size (learning_rate_init)
    double l2 = 1e-4;          // L2 penalty (alpha)
    double validation = 0.1;   // holdout fraction for early stopping
    int32_t patience = 10;     // n_iter_no_change
    double tol = 1e-4;         // minimum validation-accuracy improvement
    double beta1 = 0.9;
    double beta2 = 0.999;
    double epsilon = 1e-8;
};

// What training did.
struct MlpSummary {
    int32_t epochs = 0;                     // epochs run
    int32_t best_epoch = 0;                 // 1-based epoch whose weights are kept
    double best_validation_accuracy = 0.0;  // accuracy on the holdout at best_epoch
    double loss = 0.0;                      // mean batch loss of the last epoch
    int64_t train_samples = 0;              // samples trained on (without the holdout)
    int64_t validation_samples = 0;
};

// Rows per sub-block of a minibatch (see Work blocks above).
int64_t MlpTrainRows(int64_t d, int64_t hidden, int64_t outputs);

// Rows per block of a forward pass (see Work blocks above).
int64_t MlpForwardRows(int64_t d, int64_t hidden, int64_t outputs);

// Estimated bytes of Fit() on n samples of d features (see Memory above).
double MlpFitBytes(int64_t n, int64_t d, int32_t classes, const MlpOptions& options);

// A trained MLP classifier.
class Mlp {
  public:
    // Trains on x (n x d, standardised), labels 0 .. classes-1 and ids (which
    // choose the holdout).  Throws DataError if the loss becomes non-finite.
    void Fit(const RowMatrixF& x, const int32_t* labels, const int64_t* ids, int32_t classes,
             const MlpOptions& options, uint64_t seed);

    // Class probabilities of x, n x classes (row-major doubles).
    Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> PredictProba(
        const RowMatrixF& x) const;

    const MlpSummary& summary() const { return summary_; }

  private:
    // Output-layer activations (probabilities of the K' output units) of x.
    Eigen::MatrixXf Forward(const Eigen::Ref<const RowMatrixF>& x) const;

    // Forward() of every row of x in blocks of MlpForwardRows() rows,
    // polling the interrupt check between blocks.
    Eigen::MatrixXf ForwardBlocks(const RowMatrixF& x) const;

    int32_t classes_ = 0;
    Eigen::MatrixXf w1_, w2_;
    Eigen::RowVectorXf b1_, b2_;
    MlpSummary summary_;
};

}  // namespace raid

#endif  // RAID_CORE_ATTACK_MLP_H
