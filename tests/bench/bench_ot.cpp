// bench_ot.cpp: the RAID defense's cost.
//
//   BM_OtStep      one warm recomputation of MfDefense (barycenter update,
//                  couplings, self-transports, debiased maps of every user) at
//                  the defense defaults, n users in 2 classes, m support
//                  points, d = 64
//   BM_PhaseEpochs one Phase I and one Phase II epoch of MF training with the
//                  defense defaults on the synthetic 1M interactions (6,000
//                  users, 4,000 items, 167 per user, 2 classes, dim 64); the
//                  counters are the per-epoch seconds of each phase and their
//                  ratio (the product's criterion: at most 1.5)
//
//   make -C /work/main bench && OMP_NUM_THREADS=2 build/tests/raid_bench
//   --benchmark_filter='OtStep|PhaseEpochs'
#include <benchmark/benchmark.h>

#include <vector>

#include "core/common.h"
#include "core/data/dataset.h"
#include "core/data/synthetic.h"
#include "core/ot/barycenter.h"
#include "core/ot/defense.h"
#include "core/train/mf.h"
#include "core/train/mf_defense.h"

namespace {

// One warm recomputation (as in training) of MfDefense on n users.
void BM_OtStep(benchmark::State& state) {
    const int64_t n = state.range(0);
    const int32_t m = static_cast<int32_t>(state.range(1));
    const int32_t d = 64;
    std::vector<int32_t> cls(static_cast<size_t>(n));
    std::vector<float> rows(static_cast<size_t>(n * d));
    raid::Rng rng(7);
    for (int64_t i = 0; i < n; ++i) {
        cls[i] = static_cast<int32_t>(i % 2);
        for (int k = 0; k < d; ++k)
            rows[i * d + k] =
                static_cast<float>(0.3 * rng.Normal() + (k == 0 ? 0.2 * cls[i] : 0.0));
    }
    raid::DefenseOptions o;
    o.m = m;
    raid::MfDefense defense(cls, 2, o, d, 42, 0);
    defense.Recompute(rows.data(), d);  // the cold first recomputation
    for (auto _ : state) {
        defense.Recompute(rows.data(), d);
        benchmark::DoNotOptimize(defense.displacements());
    }
}
BENCHMARK(BM_OtStep)
    ->Args({1000, 64})
    ->Args({1000, 256})
    ->Args({10000, 64})
    ->Args({10000, 256})
    ->Args({100000, 64})
    ->Args({100000, 256})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// One Phase I and one Phase II epoch (the first Phase II epoch includes the
// cold barycenter; the second is the steady state, so three epochs run and
// Phase II is the mean of the last two).
void BM_PhaseEpochs(benchmark::State& state) {
    raid::SyntheticOptions so;
    so.n_users = 6000;
    so.n_items = 4000;
    so.interactions_per_user = 167;
    const raid::SyntheticData syn = raid::GenerateSynthetic(so);
    raid::Dataset data;
    data.Append(syn.users.data(), syn.items.data(), syn.users.size());
    data.Finalize(true, 42);
    std::vector<int32_t> cls;
    for (int64_t id : data.user_ids()) cls.push_back(syn.classes[static_cast<size_t>(id - 1)]);
    raid::MfOptions mo;
    mo.epochs = 3;
    raid::DefenseOptions dop;
    dop.phase1_epochs = 1;
    double p1 = 0.0, p2 = 0.0;
    for (auto _ : state) {
        raid::MfTrainer tr(data, mo);
        tr.SetDefense(cls, 2, dop);
        tr.Run();
        const raid::DefenseSummary s = tr.defense_summary();
        p1 += s.phase1_epoch_seconds;
        p2 += s.phase2_epoch_seconds;
    }
    const double k = static_cast<double>(state.iterations());
    state.counters["phase1_s"] = p1 / k;
    state.counters["phase2_s"] = p2 / k;
    state.counters["ratio"] = p2 / p1;
}
BENCHMARK(BM_PhaseEpochs)->Iterations(3)->UseRealTime()->Unit(benchmark::kSecond);

}  // namespace
