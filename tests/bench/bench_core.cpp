// bench_core.cpp: Google Benchmark for the hot kernels of raid's core.
//
// Data: synthetic, 6,000 users x 4,000 items x ~166 interactions per user
// (about 1M interactions), generated once and shared by all benchmarks.
//   build/tests/raid_bench
#include <benchmark/benchmark.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "core/common.h"
#include "core/data/dataset.h"
#include "core/data/synthetic.h"
#include "core/eval/ranking.h"
#include "core/train/mf.h"

namespace {

// Options of the 1M-interaction synthetic data set.
raid::SyntheticOptions MillionOptions(int threads = 0) {
    raid::SyntheticOptions o;
    o.n_users = 6000;
    o.n_items = 4000;
    o.interactions_per_user = 166;
    o.threads = threads;
    return o;
}

// The synthetic data (generated once).
const raid::SyntheticData& Million() {
    static const raid::SyntheticData data = raid::GenerateSynthetic(MillionOptions());
    return data;
}

// The finalized leave-one-out dataset over Million() (built once).
const raid::Dataset& MillionDataset() {
    static const std::unique_ptr<raid::Dataset> ds = [] {
        auto d = std::make_unique<raid::Dataset>();
        d->Append(Million().users.data(), Million().items.data(), Million().users.size());
        d->Finalize(true, 42);
        return d;
    }();
    return *ds;
}

// One MF epoch (dim 64, 4 negatives) at state.range(0) threads.
void BM_MfEpoch(benchmark::State& state) {
    const raid::Dataset& data = MillionDataset();
    raid::MfOptions o;
    o.dim = 64;
    o.negatives = 4;
    o.epochs = 10000;
    o.threads = static_cast<int32_t>(state.range(0));
    raid::MfTrainer trainer(data, o);
    raid::MfProgress p;
    for (auto _ : state) {
        do {
            trainer.Step(&p);
        } while (!p.epoch_finished);
    }
    state.counters["positives"] = static_cast<double>(data.n_train());
    state.counters["loss"] = p.loss;
    state.SetItemsProcessed(state.iterations() * data.n_train());
}
BENCHMARK(BM_MfEpoch)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// Full-ranking NDCG/HR over every user at state.range(0) threads (dim 64).
void BM_Evaluate(benchmark::State& state) {
    const raid::Dataset& data = MillionDataset();
    raid::MfOptions o;
    o.threads = 2;
    const raid::MfTrainer trainer(data, o);  // random initial embeddings: same cost
    const int32_t threads = static_cast<int32_t>(state.range(0));
    for (auto _ : state) {
        const auto m = raid::EvaluateRanking(data, trainer.user_embeddings().data(),
                                             trainer.item_embeddings().data(), o.dim, threads);
        benchmark::DoNotOptimize(m.ndcg_at_10);
    }
    state.counters["users"] = static_cast<double>(data.n_heldout());
}
BENCHMARK(BM_Evaluate)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// Popularity baseline under the same protocol.
void BM_EvaluatePopularity(benchmark::State& state) {
    const raid::Dataset& data = MillionDataset();
    for (auto _ : state) {
        const auto m = raid::EvaluatePopularity(data, 2);
        benchmark::DoNotOptimize(m.ndcg_at_10);
    }
}
BENCHMARK(BM_EvaluatePopularity)->Unit(benchmark::kMillisecond)->UseRealTime();

// Generating the ~1M synthetic interactions at state.range(0) threads.
void BM_SyntheticGenerate(benchmark::State& state) {
    const raid::SyntheticOptions o = MillionOptions(static_cast<int32_t>(state.range(0)));
    size_t n = 0;
    for (auto _ : state) {
        const raid::SyntheticData s = raid::GenerateSynthetic(o);
        n = s.users.size();
        benchmark::DoNotOptimize(s.items.data());
    }
    state.counters["interactions"] = static_cast<double>(n);
}
BENCHMARK(BM_SyntheticGenerate)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// Dataset finalize (remap, collapse, CSR, leave-one-out) of ~1M shuffled pairs
// with arbitrary (sparse) ids.
void BM_DatasetFinalize(benchmark::State& state) {
    std::vector<int64_t> users(Million().users), items(Million().items);
    raid::Rng rng(5);
    for (size_t k = users.size() - 1; k > 0; --k) {
        const size_t r = static_cast<size_t>(rng.Below(k + 1));
        std::swap(users[k], users[r]);
        std::swap(items[k], items[r]);
    }
    for (auto& u : users) u = u * 1000003 + 17;
    for (auto& i : items) i = i * 7919 - 5;
    for (auto _ : state) {
        raid::Dataset d;
        d.Append(users.data(), items.data(), users.size());
        d.Finalize(true, 42);
        benchmark::DoNotOptimize(d.train_indices().data());
    }
    state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(users.size()));
}
BENCHMARK(BM_DatasetFinalize)->Unit(benchmark::kMillisecond)->UseRealTime();

// Top-10 over 4,000 items (dim 64) for one user, excluding its training items.
void BM_TopK(benchmark::State& state) {
    const raid::Dataset& data = MillionDataset();
    raid::MfOptions o;
    o.threads = 1;
    const raid::MfTrainer trainer(data, o);
    std::vector<uint8_t> exclude(static_cast<size_t>(data.n_items()), 0);
    for (int64_t p = 0; p < data.train_row_size(0); ++p) exclude[data.train_row(0)[p]] = 1;
    for (auto _ : state) {
        const auto r =
            raid::TopK(trainer.user_embeddings().data(), trainer.item_embeddings().data(),
                       data.n_items(), o.dim, exclude.data(), 10);
        benchmark::DoNotOptimize(r.index.data());
    }
}
BENCHMARK(BM_TopK)->Unit(benchmark::kMicrosecond)->UseRealTime();

// Top-10 of every user of the 1M-interaction data set (about 6,000 users,
// 4,000 items, dim 64), training items excluded, at 1 and 2 threads: the
// core of raid.recommend_all.
void BM_TopKBatch(benchmark::State& state) {
    const raid::Dataset& data = MillionDataset();
    raid::MfOptions o;
    o.threads = 1;
    const raid::MfTrainer trainer(data, o);
    const int64_t nu = data.n_users();
    std::vector<int64_t> off(static_cast<size_t>(nu) + 1, 0);
    std::vector<int32_t> rows;
    for (int64_t u = 0; u < nu; ++u) {
        const auto uu = static_cast<int32_t>(u);
        rows.insert(rows.end(), data.train_row(uu), data.train_row(uu) + data.train_row_size(uu));
        off[static_cast<size_t>(u) + 1] = static_cast<int64_t>(rows.size());
    }
    const int32_t k = 10;
    std::vector<int64_t> idx(static_cast<size_t>(nu * k));
    std::vector<float> sc(static_cast<size_t>(nu * k));
    std::vector<int32_t> cnt(static_cast<size_t>(nu));
    for (auto _ : state) {
        raid::TopKBatch(trainer.user_embeddings().data(), nu, trainer.item_embeddings().data(),
                        data.n_items(), o.dim, off.data(), rows.data(), k,
                        static_cast<int32_t>(state.range(0)), idx.data(), sc.data(), cnt.data());
        benchmark::DoNotOptimize(idx.data());
    }
    state.SetItemsProcessed(state.iterations() * nu);
}
BENCHMARK(BM_TopKBatch)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
