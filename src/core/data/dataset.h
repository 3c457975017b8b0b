// dataset.h: interactions as a dense CSR matrix with a leave-one-out split.
//
// Vocabulary:
//   id           an arbitrary int64 user or item identifier from the source
//   index        a dense 0-based int32 position; ids are sorted ascending, so
//                index order equals id order
//   pair         one appended (user id, item id); duplicates are allowed
//   interaction  a distinct (user, item) pair after duplicates are collapsed
//   row          the ascending item indices of one user (CSR: indptr/indices)
//   held out     leave-one-out: for each user with >= 2 interactions, one item
//                chosen uniformly at random from the seed is removed from the
//                training rows and kept for evaluation (-1 when none)
//
// Lifecycle: Append() any number of times, then Finalize() exactly once; the
// accessors are meaningful only after Finalize().
#ifndef RAID_CORE_DATA_DATASET_H
#define RAID_CORE_DATA_DATASET_H

#include <cstddef>
#include <cstdint>
#include <vector>

namespace raid {

// Interaction data: id maps, training CSR and held-out items.
class Dataset {
  public:
    // Appends n (users[i], items[i]) pairs; throws InvalidArgument after Finalize().
    void Append(const int64_t* users, const int64_t* items, size_t n);

    // Remaps ids, collapses duplicates, sorts rows and (if holdout) holds out
    // one item per user with >= 2 interactions, chosen by seed.
    void Finalize(bool holdout, uint64_t seed);

    bool finalized() const { return finalized_; }
    int32_t n_users() const { return static_cast<int32_t>(user_ids_.size()); }
    int32_t n_items() const { return static_cast<int32_t>(item_ids_.size()); }
    int64_t n_pairs() const { return n_pairs_; }
    int64_t n_interactions() const { return n_interactions_; }
    int64_t n_train() const { return static_cast<int64_t>(train_indices_.size()); }
    int64_t n_heldout() const { return n_heldout_; }

    // Dense index -> original id (ascending).
    const std::vector<int64_t>& user_ids() const { return user_ids_; }
    const std::vector<int64_t>& item_ids() const { return item_ids_; }

    // Training CSR: items of user u are train_indices()[indptr[u] .. indptr[u+1]).
    const std::vector<int64_t>& train_indptr() const { return train_indptr_; }
    const std::vector<int32_t>& train_indices() const { return train_indices_; }

    // Held-out item index per user, or -1.
    const std::vector<int32_t>& heldout() const { return heldout_; }

    // Number of training items of user u.
    int64_t train_row_size(int32_t u) const { return train_indptr_[u + 1] - train_indptr_[u]; }

    // Pointer to the first training item of user u.
    const int32_t* train_row(int32_t u) const { return train_indices_.data() + train_indptr_[u]; }

    // Training interactions per item (popularity).
    std::vector<int64_t> ItemTrainCounts() const;

  private:
    bool finalized_ = false;
    int64_t n_pairs_ = 0;
    int64_t n_interactions_ = 0;
    int64_t n_heldout_ = 0;
    std::vector<int64_t> raw_users_;
    std::vector<int64_t> raw_items_;
    std::vector<int64_t> user_ids_;
    std::vector<int64_t> item_ids_;
    std::vector<int64_t> train_indptr_;
    std::vector<int32_t> train_indices_;
    std::vector<int32_t> heldout_;
};

}  // namespace raid

#endif  // RAID_CORE_DATA_DATASET_H
