// crossval.h: the cross-validation plan of a leakage audit, and the
// per-fold standardisation of its features.
//
// Vocabulary:
//   user       one row of the audited table: an int64 id, a feature vector
//              (its embedding) and a class index 0 .. classes-1
//   h_tag(id)  Key(seed, tag, id) of common.h, i.e. with
//              Mix64(x) the SplitMix64 finaliser and Key(a, b) = Mix64(a ^ Mix64(b)),
//                h_tag(id) = Mix64(Mix64(seed ^ Mix64(tag)) ^ Mix64(id))
//              with id reinterpreted as uint64; distinct ids never collide
//   fold plan  a pure function of (seed, user id, class), so that anyone can
//              rebuild it, and permuting the input rows changes nothing:
//                test folds   within each class, users sorted by h_fold(id)
//                             ascending are dealt round-robin: the user at
//                             0-based position p goes to fold p mod k; per
//                             class the fold sizes differ by at most one
//                training set of fold f: every user not in fold f; with
//                             balancing, each class of it is cut down to the
//                             size m of its smallest class, keeping the m
//                             users with the smallest h_balance(id)
//              test folds are never balanced
//   order      within a fold, training and test users are listed by
//              ascending id, so the attackers see the same rows in the same
//              order whatever the input order
//   standardisation  per fold, each feature's mean and population standard
//              deviation (ddof = 0, as scikit-learn's StandardScaler) over
//              the fold's training users; a deviation of 0 (or below
//              10 eps |mean|, scikit-learn's rule) counts as 1; the
//              same transform is applied to the fold's test users
//   holdout    the stratified inner validation split the MLP uses for early
//              stopping: within each class of a training set, the
//              ceil(fraction * n_c) users (at most n_c - 1) with the smallest
//              Key(key, kTagValidation, id)
#ifndef RAID_CORE_ATTACK_CROSSVAL_H
#define RAID_CORE_ATTACK_CROSSVAL_H

#include <cstdint>
#include <vector>

#include "../common.h"
#include "../linalg.h"

namespace raid {

// Which users each fold tests and trains on.
struct FoldPlan {
    int32_t folds = 0;
    std::vector<int32_t> fold_of;             // test fold of each input row
    std::vector<std::vector<int64_t>> train;  // per fold: input rows, ascending id
    std::vector<std::vector<int64_t>> test;   // per fold: input rows, ascending id
};

// Builds the plan for n users.  Throws InvalidArgument if classes < 2, folds
// < 2, a label is outside 0 .. classes-1, a class has fewer than `folds`
// users ("class 2 has 3 users, fewer than the 5 folds"), and DataError if an
// id occurs twice.
FoldPlan MakeFoldPlan(const int64_t* ids, const int32_t* labels, int64_t n, int32_t classes,
                      int32_t folds, uint64_t seed, bool balance);

// Gathers the rows of X (n x dim, row-major) listed in train and test and
// standardises both by the training rows' mean and deviation.
void GatherStandardized(const float* X, int32_t dim, const std::vector<int64_t>& train,
                        const std::vector<int64_t>& test, RowMatrixF* x_train, RowMatrixF* x_test);

// Marks the stratified holdout of n users (1 = validation): per class the
// ceil(fraction * n_c) users, at most n_c - 1, with the smallest
// Key(key, kTagValidation, id).
std::vector<uint8_t> StratifiedHoldout(const int64_t* ids, const int32_t* labels, int64_t n,
                                       int32_t classes, double fraction, uint64_t key);

}  // namespace raid

#endif  // RAID_CORE_ATTACK_CROSSVAL_H
