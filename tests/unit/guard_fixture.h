// guard_fixture.h: a GoogleTest fixture for the process-wide guards of the C
// ABI (the interrupt check and the memory budget): it resets both around
// every test and installs a check that counts its polls and can ask to stop.
#ifndef RAID_TEST_GUARD_FIXTURE_H
#define RAID_TEST_GUARD_FIXTURE_H

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>

#include "capi/raid_capi.h"

namespace raid_test {

class GuardedTest : public ::testing::Test {
  protected:
    void SetUp() override { Reset(); }
    void TearDown() override { Reset(); }

    // No check, no budget, counters cleared.
    static void Reset() {
        raid_set_interrupt_check(nullptr);
        raid_set_memory_limit(0);
        polls_ = 0;
        stop_after_ = -1;
    }

    // Installs the counting check; it never asks to stop.
    static void CountPolls() { StopAfter(-1); }

    // Installs the counting check; it asks to stop after n polls (never if
    // n < 0), and a request stays set.
    static void StopAfter(int64_t n) {
        polls_ = 0;
        stop_after_ = n;
        raid_set_interrupt_check(&CountingCheck);
    }

    static int64_t polls() { return polls_.load(); }

  private:
    static int CountingCheck() {
        const int64_t k = ++polls_;
        const int64_t limit = stop_after_.load();
        return limit >= 0 && k > limit ? 1 : 0;
    }

    static inline std::atomic<int64_t> polls_{0};
    static inline std::atomic<int64_t> stop_after_{-1};
};

}  // namespace raid_test

#endif  // RAID_TEST_GUARD_FIXTURE_H
