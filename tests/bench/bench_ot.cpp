// bench_ot.cpp: the RAID OT step (barycenter update + couplings + targets) at
// the defense defaults, for n users in 2 classes, m support points, d = 64.
#include <benchmark/benchmark.h>

#include <vector>

#include "core/common.h"
#include "core/ot/barycenter.h"
#include "core/ot/defense.h"
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
            rows[i * d + k] = static_cast<float>(0.3 * rng.Normal() + (k == 0 ? 0.2 * cls[i] : 0.0));
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

}  // namespace
