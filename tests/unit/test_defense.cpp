// test_defense.cpp: the RAID defense in the MF trainer, on synthetic data.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "core/attack/audit.h"
#include "core/train/mf.h"
#include "test_util.h"

namespace {

// Synthetic data with a planted 2-class attribute and its dense class vector.
struct Planted {
    raid::SyntheticData syn;
    std::unique_ptr<raid::Dataset> data;
    std::vector<int32_t> cls;
};

// 800 users with a planted 2-class attribute (signal 0.3).
raid::SyntheticOptions PlantedOptions(int64_t items, int32_t per_user) {
    raid::SyntheticOptions o;
    o.n_users = 800;
    o.n_items = items;
    o.interactions_per_user = per_user;
    o.signal = 0.3;
    return o;
}

Planted MakePlanted() {
    Planted p;
    p.syn = raid::GenerateSynthetic(PlantedOptions(400, 40));
    p.data = raid_test::MakeDataset(p.syn, true);
    for (int64_t id : p.data->user_ids()) p.cls.push_back(p.syn.classes[id - 1]);
    return p;
}

raid::MfOptions SmallMf(int threads = 0) {
    raid::MfOptions o;
    o.epochs = 15;
    o.threads = threads;
    return o;
}

double LogisticBacc(const raid::MfTrainer& tr, const Planted& p, const std::vector<int32_t>* cls = nullptr) {
    raid::AuditOptions ao;
    ao.attackers = raid::kAttackerLogistic;
    raid::Audit audit(tr.user_embeddings().data(), p.data->user_ids().data(),
                      (cls != nullptr ? *cls : p.cls).data(), p.data->n_users(), tr.dim(), 2, ao);
    audit.Run();
    return audit.Results()[0].balanced_accuracy;
}

TEST(DefenseTraining, RemovesPlantedLeakage) {
    const Planted p = MakePlanted();
    raid::MfTrainer none(*p.data, SmallMf());
    none.Run();
    raid::MfTrainer raid_tr(*p.data, SmallMf());
    raid::DefenseOptions d;
    d.eta = 0.5;  // the planted signal is far stronger than MovieLens's gender
    raid_tr.SetDefense(p.cls, 2, d);
    raid_tr.Run();
    const double leak = LogisticBacc(none, p), defended = LogisticBacc(raid_tr, p);
    std::printf("[ defense ] logistic BAcc none %.3f raid %.3f\n", leak, defended);
    EXPECT_GT(leak, 0.65);
    EXPECT_NEAR(defended, 0.5, 0.07);
    const raid::DefenseSummary s = raid_tr.defense_summary();
    EXPECT_EQ(s.classes, 2);
    EXPECT_EQ(s.pulled_users, p.data->n_users());
    EXPECT_GT(s.recomputations, 0);
    EXPECT_EQ(s.sinkhorn_converged, s.sinkhorn_calls);
    EXPECT_GT(s.spread_after, 0.7 * s.spread_before);  // users are not collapsed
    EXPECT_GT(s.phase1_epoch_seconds, 0.0);
    EXPECT_GT(s.phase2_epoch_seconds, 0.0);
}

TEST(DefenseTraining, BitIdenticalAcrossThreadsAndChunks) {
    const Planted p = MakePlanted();
    raid::MfOptions a = SmallMf(1), b = SmallMf(2);
    a.epochs = b.epochs = 8;
    b.chunk = 777;
    raid::MfTrainer ta(*p.data, a), tb(*p.data, b);
    raid::DefenseOptions d;
    d.phase1_epochs = 2;
    ta.SetDefense(p.cls, 2, d);
    tb.SetDefense(p.cls, 2, d);
    ta.Run();
    tb.Run();
    EXPECT_EQ(ta.user_embeddings(), tb.user_embeddings());
    EXPECT_EQ(ta.item_embeddings(), tb.item_embeddings());
    EXPECT_EQ(ta.defense_summary().recomputations, tb.defense_summary().recomputations);
}

TEST(DefenseTraining, UsersWithoutClassAreNotPulled) {
    const Planted p = MakePlanted();
    std::vector<int32_t> cls = p.cls;
    for (size_t u = 0; u < cls.size(); u += 3) cls[u] = -1;
    raid::MfOptions o = SmallMf();
    o.epochs = 7;
    raid::MfTrainer tr(*p.data, o);
    tr.SetDefense(cls, 2, raid::DefenseOptions());
    tr.Run();
    const float* disp = tr.defense()->displacements();
    double pulled = 0.0;
    for (size_t u = 0; u < cls.size(); ++u) {
        double norm = 0.0;
        for (int k = 0; k < tr.dim(); ++k) norm += std::fabs(disp[u * tr.dim() + k]);
        if (cls[u] < 0)
            EXPECT_EQ(norm, 0.0) << "user " << u;
        else
            pulled += norm;
    }
    EXPECT_GT(pulled, 0.0);
    EXPECT_EQ(tr.defense_summary().pulled_users,
              static_cast<int64_t>(cls.size() - (cls.size() + 2) / 3));
}

TEST(DefenseTraining, NoPhaseTwoWhenPhaseOneCoversTraining) {
    const Planted p = MakePlanted();
    raid::MfOptions o = SmallMf();
    o.epochs = 3;
    raid::MfTrainer plain(*p.data, o), tr(*p.data, o);
    raid::DefenseOptions d;
    d.phase1_epochs = 3;
    tr.SetDefense(p.cls, 2, d);
    plain.Run();
    tr.Run();
    EXPECT_EQ(plain.user_embeddings(), tr.user_embeddings());
    EXPECT_EQ(tr.defense_summary().recomputations, 0);
}

using raid_test::ExpectInvalid;

TEST(DefenseTraining, ErrorCases) {
    const Planted p = MakePlanted();
    raid::MfTrainer tr(*p.data, SmallMf());
    const raid::DefenseOptions d;
    ExpectInvalid([&] { tr.SetDefense(p.cls, 1, d); }, "classes");
    std::vector<int32_t> lonely = p.cls;
    for (auto& c : lonely) c = c == 1 ? 0 : c;
    lonely[5] = 1;
    ExpectInvalid([&] { tr.SetDefense(lonely, 2, d); }, "class 1");
    std::vector<int32_t> three = p.cls;
    ExpectInvalid([&] { tr.SetDefense(three, 3, d); }, "class 2");
    ExpectInvalid([&] { tr.SetDefense(std::vector<int32_t>(3, 0), 2, d); }, "user_class");
    std::vector<int32_t> bad = p.cls;
    bad[0] = 7;
    ExpectInvalid([&] { tr.SetDefense(bad, 2, d); }, "user 0");
    raid::DefenseOptions o = d;
    o.eta = 0.0;
    ExpectInvalid([&] { tr.SetDefense(p.cls, 2, o); }, "\"eta\"");
    o = d;
    o.sample = 1;
    ExpectInvalid([&] { tr.SetDefense(p.cls, 2, o); }, "\"sample\"");
    tr.Step();
    ExpectInvalid([&] { tr.SetDefense(p.cls, 2, d); }, "before the first training step");
}

// The pull strength can change between steps (a leakage target adapts it):
// a stronger pull from the middle of Phase II on removes more leakage than
// the same training at the first strength, and equals a run that had the
// second strength from that step on.
TEST(DefenseTraining, EtaChangesBetweenSteps) {
    const Planted p = MakePlanted();
    raid::MfOptions o = SmallMf(1);
    raid::DefenseOptions d;
    d.eta = 0.05;
    raid::MfTrainer weak(*p.data, o), strengthened(*p.data, o);
    weak.SetDefense(p.cls, 2, d);
    strengthened.SetDefense(p.cls, 2, d);
    raid::MfProgress pw, ps;
    bool changed = false;
    while (!weak.Step(&pw)) {
    }
    while (!strengthened.Step(&ps)) {
        if (!changed && ps.epoch >= 8) {
            strengthened.SetDefenseEta(0.5);
            changed = true;
        }
    }
    ASSERT_TRUE(changed);
    EXPECT_EQ(strengthened.defense()->options().eta, 0.5);
    const double w = LogisticBacc(weak, p), s = LogisticBacc(strengthened, p);
    std::printf("[ defense ] logistic BAcc eta 0.05 %.3f, raised to 0.5 at epoch 8 %.3f\n", w, s);
    EXPECT_LT(std::abs(s - 0.5), std::abs(w - 0.5));
    ExpectInvalid([&] { strengthened.SetDefenseEta(-1.0); }, "\"eta\"");
    ExpectInvalid([&] { strengthened.SetDefenseEta(2e6); }, "\"eta\"");
    raid::MfTrainer plain(*p.data, o);
    ExpectInvalid([&] { plain.SetDefenseEta(1.0); }, "no defense");
}

// eta 0 pauses the pull and its recomputations: paused from the start, the
// defended trainer learns exactly what a trainer without defense learns;
// resumed in Phase II, it recomputes its targets first and pulls again.
TEST(DefenseTraining, EtaZeroPausesThePull) {
    const Planted p = MakePlanted();
    raid::MfOptions o = SmallMf(1);
    raid::DefenseOptions d;
    d.eta = 0.5;
    raid::MfTrainer plain(*p.data, o), paused(*p.data, o), resumed(*p.data, o);
    paused.SetDefense(p.cls, 2, d);
    resumed.SetDefense(p.cls, 2, d);
    paused.SetDefenseEta(0.0);
    resumed.SetDefenseEta(0.0);
    raid::MfProgress pp, pr;
    while (!plain.Step()) {
    }
    while (!paused.Step(&pp)) {
    }
    bool resumed_once = false;
    while (!resumed.Step(&pr)) {
        if (!resumed_once && pr.epoch >= 8) {
            resumed.SetDefenseEta(0.5);
            resumed_once = true;
        }
    }
    ASSERT_TRUE(resumed_once);
    EXPECT_EQ(paused.defense_summary().recomputations, 0);
    EXPECT_EQ(paused.user_embeddings(), plain.user_embeddings());
    EXPECT_GT(resumed.defense_summary().recomputations, 0);
    const double a = LogisticBacc(paused, p), b = LogisticBacc(resumed, p);
    std::printf("[ defense ] logistic BAcc paused %.3f, resumed at epoch 8 %.3f\n", a, b);
    EXPECT_LT(std::abs(b - 0.5), std::abs(a - 0.5));
}

// Two planted attributes: the same users on two synthetic catalogues of
// different seeds (items of the second shifted past the first's), each
// catalogue's taste shaped by its own class.
struct TwoPlanted {
    Planted p;               // the union; p.cls is the first attribute
    std::vector<int32_t> second;
};

TwoPlanted MakeTwoPlanted() {
    TwoPlanted t;
    raid::SyntheticOptions o = PlantedOptions(300, 25);
    const raid::SyntheticData a = raid::GenerateSynthetic(o);
    o.seed = 7;
    const raid::SyntheticData b = raid::GenerateSynthetic(o);
    std::vector<std::pair<int64_t, int64_t>> pairs;
    for (size_t i = 0; i < a.users.size(); ++i) pairs.emplace_back(a.users[i], a.items[i]);
    for (size_t i = 0; i < b.users.size(); ++i) pairs.emplace_back(b.users[i], b.items[i] + o.n_items);
    t.p.data = raid_test::MakeDataset(pairs, true);
    for (int64_t id : t.p.data->user_ids()) {
        t.p.cls.push_back(a.classes[id - 1]);
        t.second.push_back(b.classes[id - 1]);
    }
    return t;
}

// Two attributes, each pulled toward its own barycenter: defending both
// removes the leakage of both, where defending the first alone leaves the
// second.
TEST(DefenseTraining, SeveralAttributesAreProtectedTogether) {
    const TwoPlanted t = MakeTwoPlanted();
    const Planted& p = t.p;
    raid::DefenseOptions d;
    d.eta = 0.1;  // each catalogue's signal is weaker than MakePlanted()'s; 0.25 overshoots below chance
    raid::MfTrainer one(*p.data, SmallMf()), both(*p.data, SmallMf());
    one.SetDefense(p.cls, 2, d);
    both.SetDefense(p.cls, 2, d);
    both.SetDefense(t.second, 2, d);
    EXPECT_EQ(both.defense_count(), 2);
    one.Run();
    both.Run();
    const double one_first = LogisticBacc(one, p), one_second = LogisticBacc(one, p, &t.second);
    const double both_first = LogisticBacc(both, p), both_second = LogisticBacc(both, p, &t.second);
    std::printf("[ defense ] logistic BAcc first / second attribute: first defended %.3f / %.3f, both %.3f / %.3f\n",
                one_first, one_second, both_first, both_second);
    EXPECT_NEAR(one_first, 0.5, 0.07);
    EXPECT_GT(one_second, 0.65);
    EXPECT_NEAR(both_first, 0.5, 0.07);
    EXPECT_NEAR(both_second, 0.5, 0.07);
    const raid::DefenseSummary s0 = both.defense_summary(0), s1 = both.defense_summary(1);
    EXPECT_GT(s1.recomputations, 0);
    EXPECT_EQ(s1.recomputations, s0.recomputations);
    EXPECT_EQ(s1.phase2_seconds, s0.phase2_seconds);
    EXPECT_EQ(one.defense(1), nullptr);
    EXPECT_EQ(one.defense_summary(1).classes, 0);
}

TEST(DefenseTraining, PausedSecondAttributeEqualsOne) {
    const Planted p = MakePlanted();
    raid::MfOptions o = SmallMf(1);
    o.epochs = 9;
    raid::DefenseOptions d;
    d.eta = 0.5;
    raid::MfTrainer one(*p.data, o), two(*p.data, o);
    one.SetDefense(p.cls, 2, d);
    two.SetDefense(p.cls, 2, d);
    std::vector<int32_t> halves(p.cls.size());
    for (size_t u = 0; u < halves.size(); ++u) halves[u] = static_cast<int32_t>(u % 2);
    two.SetDefense(halves, 2, d);
    two.SetDefenseEta(0.0, 1);
    one.Run();
    two.Run();
    EXPECT_EQ(two.defense_summary(1).recomputations, 0);
    EXPECT_EQ(two.defense_summary(0).recomputations, one.defense_summary().recomputations);
    const auto& a = one.user_embeddings();
    const auto& b = two.user_embeddings();
    ASSERT_EQ(a.size(), b.size());
    double diff = 0.0, norm = 0.0;
    for (size_t i = 0; i < a.size(); ++i) {
        diff = std::max(diff, static_cast<double>(std::fabs(a[i] - b[i])));
        norm = std::max(norm, static_cast<double>(std::fabs(a[i])));
    }
    EXPECT_LT(diff, 1e-4 * norm);
}

TEST(DefenseTraining, SeveralAttributesErrorCases) {
    const Planted p = MakePlanted();
    raid::MfTrainer tr(*p.data, SmallMf());
    raid::DefenseOptions d;
    ExpectInvalid([&] { tr.SetDefenseEta(0.5, 1); }, "no defense");
    tr.SetDefense(p.cls, 2, d);
    ExpectInvalid([&] { tr.SetDefenseEta(0.5, 1); }, "no protected attribute 1");
    raid::DefenseOptions other = d;
    other.phase1_epochs = d.phase1_epochs + 1;
    ExpectInvalid([&] { tr.SetDefense(p.cls, 2, other); }, "\"phase1_epochs\"");
    other = d;
    other.xi = d.xi + 1;
    ExpectInvalid([&] { tr.SetDefense(p.cls, 2, other); }, "\"xi\"");
    EXPECT_EQ(tr.defense_count(), 1);
    for (int a = 1; a < raid::MfTrainer::kMaxAttributes; ++a) tr.SetDefense(p.cls, 2, d);
    ExpectInvalid([&] { tr.SetDefense(p.cls, 2, d); }, "at most");
    EXPECT_EQ(tr.defense_count(), raid::MfTrainer::kMaxAttributes);
}

// The adversarial baseline (mf.h SetAdversary): training against the
// adversary's reversed gradient leaves the attribute less readable than plain
// training (logistic 0.81 -> 0.56 here; weights of 0.1 and more overshoot
// to below chance, since the reversed force is held for a whole epoch).
TEST(AdversarialTraining, ReducesPlantedLeakage) {
    const Planted p = MakePlanted();
    raid::MfTrainer none(*p.data, SmallMf());
    none.Run();
    raid::MfTrainer adv(*p.data, SmallMf());
    raid::AdversaryOptions ao;
    ao.lr = 0.01;
    adv.SetAdversary(p.cls, 2, ao, 0.03, 5, 0);
    adv.Run();
    const double plain = LogisticBacc(none, p), defended = LogisticBacc(adv, p);
    EXPECT_GT(plain, 0.75);
    EXPECT_LT(defended, plain - 0.1) << "plain " << plain << " adversarial " << defended;
    EXPECT_EQ(adv.adversary_accuracy().size(), 15u);  // once per epoch
}

TEST(AdversarialTraining, WeightZeroIsPlainTrainingAndErrors) {
    const Planted p = MakePlanted();
    raid::MfTrainer none(*p.data, SmallMf(1));
    none.Run();
    raid::MfTrainer zero(*p.data, SmallMf(1));
    zero.SetAdversary(p.cls, 2, raid::AdversaryOptions(), 0.0, 1, 0);
    zero.Run();
    EXPECT_EQ(none.user_embeddings(), zero.user_embeddings());
    raid::MfTrainer tr(*p.data, SmallMf(1));
    EXPECT_THROW(tr.SetAdversary({0, 1}, 2, raid::AdversaryOptions(), 1.0, 1, 0), raid::InvalidArgument);
    EXPECT_THROW(tr.SetAdversary(p.cls, 2, raid::AdversaryOptions(), -1.0, 1, 0), raid::InvalidArgument);
    tr.SetAdversary(p.cls, 2, raid::AdversaryOptions(), 1.0, 1, 0);
    EXPECT_THROW(tr.SetDefense(p.cls, 2, raid::DefenseOptions()), raid::InvalidArgument);
}

}  // namespace
