// bench_attack.cpp: Google Benchmark for leakage audits (no main here: bench_core.cpp has it).
//
// Data: synthetic, 6,000 users x 64 dims, 2 classes (60% / 40%) with a weak
// signal (class 1 shifted by 0.05 on every axis: Bayes BAcc about 0.58),
// generated once.
//   build/tests/raid_bench --benchmark_filter=Audit
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/attack/audit.h"
#include "core/common.h"

namespace {

// The benchmark's users.
struct AuditData {
    int64_t n = 6000;
    int32_t dim = 64;
    std::vector<float> x;
    std::vector<int64_t> ids;
    std::vector<int32_t> labels;
};

// Generated once.
const AuditData& WeakSignal() {
    static const AuditData data = [] {
        AuditData d;
        raid::Rng rng(2024);
        for (int64_t i = 0; i < d.n; ++i) {
            const int32_t c = rng.Uniform() < 0.4 ? 1 : 0;
            d.ids.push_back(i + 1);
            d.labels.push_back(c);
            for (int32_t j = 0; j < d.dim; ++j)
                d.x.push_back(static_cast<float>(rng.Normal() + (c ? 0.05 : 0.0)));
        }
        return d;
    }();
    return data;
}

// A full audit (5 folds) with the given attackers at state.range(0) threads.
void RunAuditBenchmark(benchmark::State& state, int32_t attackers) {
    const AuditData& d = WeakSignal();
    raid::AuditOptions o;
    o.threads = static_cast<int32_t>(state.range(0));
    o.attackers = attackers;
    std::vector<raid::AttackResult> results;
    for (auto _ : state) {
        raid::Audit audit(d.x.data(), d.ids.data(), d.labels.data(), d.n, d.dim, 2, o);
        audit.Run();
        results = audit.Results();
        benchmark::DoNotOptimize(results.data());
    }
    for (const raid::AttackResult& r : results) {
        const char* name = raid::AttackerName(r.attacker);
        state.counters[std::string(name) + "_bacc"] = r.balanced_accuracy;
        double iterations = 0;
        for (const raid::FoldResult& f : r.fold) iterations += f.iterations;
        state.counters[std::string(name) + "_iters"] = iterations / static_cast<double>(r.folds);
    }
}

// Both attackers, 5 folds.
void BM_AuditFull(benchmark::State& state) {
    RunAuditBenchmark(state, raid::kAttackerMlp | raid::kAttackerLogistic);
}
BENCHMARK(BM_AuditFull)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// The MLP alone, 5 folds.
void BM_AuditMlp(benchmark::State& state) { RunAuditBenchmark(state, raid::kAttackerMlp); }
BENCHMARK(BM_AuditMlp)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// Logistic regression alone, 5 folds.
void BM_AuditLogistic(benchmark::State& state) {
    RunAuditBenchmark(state, raid::kAttackerLogistic);
}
BENCHMARK(BM_AuditLogistic)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
