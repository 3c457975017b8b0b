// test_defense_movielens.cpp: the RAID defaults on MovieLens 100K gender meet
// the product's acceptance criteria (see mf_defense.h for the figures).
//
// MovieLens may not be redistributed: set RAID_DATA_DIR to the ml-100k directory.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/attack/audit.h"
#include "core/data/dataset.h"
#include "core/eval/ranking.h"
#include "core/train/mf.h"

namespace {

struct Outcome {
    double ndcg = 0.0;
    double bacc[2] = {0.0, 0.0};  // MLP, logistic
};

// Trains with defaults (seed 42), with or without the defense, and audits gender.
Outcome TrainAndAudit(const raid::Dataset& data, const std::vector<int32_t>& gender, bool defend) {
    const raid::MfOptions options;
    raid::MfTrainer tr(data, options);
    if (defend) tr.SetDefense(gender, 2, raid::DefenseOptions());
    tr.Run();
    Outcome out;
    out.ndcg = raid::EvaluateRanking(data, tr.user_embeddings().data(),
                                     tr.item_embeddings().data(), options.dim, 0)
                   .ndcg_at_10;
    raid::AuditOptions ao;  // both attackers, 5 folds, seed 42
    raid::Audit audit(tr.user_embeddings().data(), data.user_ids().data(), gender.data(),
                      data.n_users(), options.dim, 2, ao);
    audit.Run();
    const auto results = audit.Results();
    for (int k = 0; k < 2; ++k) out.bacc[k] = results[k].balanced_accuracy;
    return out;
}

TEST(DefenseMovieLens, GenderDefaultsMeetTheCriteria) {
    const char* dir = std::getenv("RAID_DATA_DIR");
    const std::string base(dir != nullptr ? dir : "");
    std::ifstream in(base + "/u.data"), uin(base + "/u.user");
    if (dir == nullptr || !in || !uin) GTEST_SKIP() << "MovieLens 100K not found: set RAID_DATA_DIR";
    std::vector<int64_t> users, items;
    int64_t user, item, rating, ts;
    while (in >> user >> item >> rating >> ts) {
        users.push_back(user);
        items.push_back(item);
    }
    std::map<int64_t, int32_t> female;
    std::string line;
    while (std::getline(uin, line)) {
        std::stringstream ss(line);
        std::string id, age, sex;
        std::getline(ss, id, '|');
        std::getline(ss, age, '|');
        std::getline(ss, sex, '|');
        female[std::stoll(id)] = sex == "F" ? 1 : 0;
    }
    raid::Dataset data;
    data.Append(users.data(), items.data(), users.size());
    data.Finalize(true, raid::MfOptions().seed);
    std::vector<int32_t> gender;
    for (int64_t id : data.user_ids()) gender.push_back(female.at(id));

    const Outcome none = TrainAndAudit(data, gender, false);
    const Outcome defended = TrainAndAudit(data, gender, true);
    std::printf("[ RAID gender ] none NDCG@10 %.4f BAcc MLP %.3f LR %.3f | raid NDCG@10 %.4f "
                "BAcc MLP %.3f LR %.3f\n",
                none.ndcg, none.bacc[0], none.bacc[1], defended.ndcg, defended.bacc[0],
                defended.bacc[1]);
    const double leak = std::max(none.bacc[0], none.bacc[1]) - 0.5;
    for (int k = 0; k < 2; ++k) {
        EXPECT_GE(defended.bacc[k], 0.45) << "attacker " << k;
        EXPECT_LE(defended.bacc[k], 0.55) << "attacker " << k;
        EXPECT_LE(std::fabs(defended.bacc[k] - 0.5), 0.25 * leak) << "attacker " << k;
    }
    EXPECT_GE(defended.ndcg, 0.95 * none.ndcg);
}

}  // namespace
