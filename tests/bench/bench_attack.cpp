// bench_attack.cpp: Google Benchmark for leakage audits (no main here: bench_core.cpp has it).
//
// Data: synthetic, 6,000 users x 64 dims, 2 classes (60% / 40%) with a weak
// signal (class 1 shifted by 0.05 on every axis: Bayes BAcc about 0.58),
// generated once.
//   build/tests/raid_bench --benchmark_filter=Audit
//   build/tests/raid_bench --benchmark_filter='Knn|Qda'   (one fold's fit + predict)
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/attack/audit.h"
#include "core/attack/crossval.h"
#include "core/attack/knn.h"
#include "core/attack/qda.h"
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
        for (int f = 0; f < r.folds; ++f) iterations += r.fold[f].iterations;
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

// kNN alone, 5 folds.
void BM_AuditKnn(benchmark::State& state) { RunAuditBenchmark(state, raid::kAttackerKnn); }
BENCHMARK(BM_AuditKnn)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// QDA alone, 5 folds.
void BM_AuditQda(benchmark::State& state) { RunAuditBenchmark(state, raid::kAttackerQda); }
BENCHMARK(BM_AuditQda)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// Fold 0 of the default plan, standardised: (balanced) training and test rows.
struct Fold {
    raid::RowMatrixF train, test;
    std::vector<int32_t> y_train;
};

// Built once.
const Fold& FirstFold() {
    static const Fold fold = [] {
        const AuditData& d = WeakSignal();
        const raid::FoldPlan plan =
            raid::MakeFoldPlan(d.ids.data(), d.labels.data(), d.n, 2, 5, 42, true);
        Fold f;
        raid::GatherStandardized(d.x.data(), d.dim, plan.train[0], plan.test[0], &f.train, &f.test);
        for (int64_t r : plan.train[0]) f.y_train.push_back(d.labels[r]);
        return f;
    }();
    return fold;
}

// kNN (k = state.range(0)) fitted on one fold's training users, scoring its test users.
void BM_KnnFitPredict(benchmark::State& state) {
    const Fold& f = FirstFold();
    raid::KnnOptions o;
    o.k = static_cast<int32_t>(state.range(0));
    for (auto _ : state) {
        raid::KnnClassifier knn;
        knn.Fit(f.train, f.y_train.data(), 2, o);
        const raid::RowMatrixD p = knn.PredictProba(f.test);
        benchmark::DoNotOptimize(p.data());
    }
    state.counters["train"] = static_cast<double>(f.train.rows());
    state.counters["test"] = static_cast<double>(f.test.rows());
}
BENCHMARK(BM_KnnFitPredict)->Arg(15)->Unit(benchmark::kMillisecond);

// QDA (reg 0.1) fitted on one fold's training users, scoring its test users.
void BM_QdaFitPredict(benchmark::State& state) {
    const Fold& f = FirstFold();
    const raid::QdaOptions o;
    for (auto _ : state) {
        raid::Qda qda;
        qda.Fit(f.train, f.y_train.data(), 2, o);
        const raid::RowMatrixD p = qda.PredictProba(f.test);
        benchmark::DoNotOptimize(p.data());
    }
    state.counters["train"] = static_cast<double>(f.train.rows());
    state.counters["test"] = static_cast<double>(f.test.rows());
}
BENCHMARK(BM_QdaFitPredict)->Unit(benchmark::kMillisecond);

}  // namespace
