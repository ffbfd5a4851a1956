#include "commvq/base/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::testing::ElementsAreArray;
using ::testing::Pair;

// Records the chunks one ParallelFor produced, in begin order.
std::vector<std::pair<int64_t, int64_t>> Chunks(ThreadPool& pool, int64_t begin,
                                                int64_t end, int64_t grain) {
  std::mutex mu;
  std::vector<std::pair<int64_t, int64_t>> chunks;
  pool.ParallelFor(begin, end, grain, [&](int64_t lo, int64_t hi) {
    std::lock_guard<std::mutex> lock(mu);
    chunks.emplace_back(lo, hi);
  });
  std::sort(chunks.begin(), chunks.end());
  return chunks;
}

TEST(ThreadPoolTest, VisitsEveryIndexOnceInValidChunks) {
  for (int threads : {1, 2, 3, 4, 8}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.num_threads(), threads);
    for (int64_t size : {1, 2, 3, 7, 64, 100, 1001}) {
      for (int64_t grain : {-1, 0, 1, 2, 5, 64, 2000}) {
        SCOPED_TRACE(::testing::Message() << threads << " threads, size "
                                          << size << ", grain " << grain);
        const int64_t begin = -3;
        std::vector<std::atomic<int>> visits(size);
        pool.ParallelFor(begin, begin + size, grain,
                         [&](int64_t lo, int64_t hi) {
                           for (int64_t i = lo; i < hi; ++i)
                             ++visits[i - begin];
                         });
        for (const auto& v : visits) ASSERT_EQ(v.load(), 1);

        const auto chunks = Chunks(pool, begin, begin + size, grain);
        ASSERT_LE(chunks.size(), static_cast<size_t>(threads));
        ASSERT_EQ(chunks.front().first, begin);
        ASSERT_EQ(chunks.back().second, begin + size);
        for (size_t i = 1; i < chunks.size(); ++i) {
          ASSERT_EQ(chunks[i].first, chunks[i - 1].second);
        }
        if (chunks.size() > 1) {
          for (const auto& [lo, hi] : chunks) ASSERT_GE(hi - lo, grain);
        }
        // The split is a function of the arguments alone.
        ASSERT_EQ(Chunks(pool, begin, begin + size, grain), chunks);
      }
    }
  }
}

TEST(ThreadPoolTest, KnownSplit) {
  ThreadPool pool(4);
  EXPECT_THAT(
      Chunks(pool, 0, 10, 1),
      ElementsAreArray({Pair(0, 3), Pair(3, 6), Pair(6, 8), Pair(8, 10)}));
  EXPECT_THAT(Chunks(pool, 0, 10, 4),
              ElementsAreArray({Pair(0, 5), Pair(5, 10)}));
  EXPECT_THAT(Chunks(pool, 0, 10, 11), ElementsAreArray({Pair(0, 10)}));
}

int64_t ParallelSum(ThreadPool& pool, const std::vector<int64_t>& values,
                    int64_t grain) {
  std::atomic<int64_t> sum{0};
  pool.ParallelFor(0, values.size(), grain, [&](int64_t lo, int64_t hi) {
    int64_t partial = 0;
    for (int64_t i = lo; i < hi; ++i) partial += values[i];
    sum += partial;
  });
  return sum.load();
}

TEST(ThreadPoolTest, SumMatchesSerial) {
  std::vector<int64_t> values(100003);
  int64_t serial = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    values[i] = static_cast<int64_t>(i * i % 1009) - 500;
    serial += values[i];
  }
  ThreadPool pool(4);
  for (int64_t grain : {1, 100, 50000, 1000000}) {
    EXPECT_EQ(ParallelSum(pool, values, grain), serial);
  }
}

TEST(ThreadPoolTest, ConcurrentCallersShareOnePool) {
  ThreadPool pool(3);
  std::vector<int64_t> values(20000, 3);
  std::vector<int64_t> sums(4, 0);
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&, t] {
      for (int round = 0; round < 50; ++round) {
        sums[t] += ParallelSum(pool, values, 10 + t);
      }
    });
  }
  for (std::thread& caller : callers) caller.join();
  for (int64_t sum : sums) EXPECT_EQ(sum, 50 * 60000);
}

TEST(ThreadPoolTest, NestedCallsDoNotDeadlock) {
  ThreadPool pool(4);
  std::atomic<int64_t> count{0};
  pool.ParallelFor(0, 8, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      pool.ParallelFor(0, 100, 1, [&](int64_t inner_lo, int64_t inner_hi) {
        pool.ParallelFor(inner_lo, inner_hi, 1,
                         [&](int64_t a, int64_t b) { count += b - a; });
      });
    }
  });
  EXPECT_EQ(count.load(), 800);
}

TEST(ThreadPoolTest, EmptyAndReversedRangesCallNothing) {
  ThreadPool pool(4);
  int calls = 0;
  pool.ParallelFor(5, 5, 1, [&](int64_t, int64_t) { ++calls; });
  pool.ParallelFor(5, 2, 1, [&](int64_t, int64_t) { ++calls; });
  EXPECT_EQ(calls, 0);
}

TEST(ThreadPoolTest, SingleThreadRunsOnCaller) {
  ThreadPool pool(1);
  const std::thread::id caller = std::this_thread::get_id();
  int calls = 0;
  pool.ParallelFor(0, 1000, 1, [&](int64_t lo, int64_t hi) {
    EXPECT_EQ(std::this_thread::get_id(), caller);
    EXPECT_EQ(lo, 0);
    EXPECT_EQ(hi, 1000);
    ++calls;
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(ThreadPool(0).num_threads(), 1);
}

TEST(ThreadPoolTest, DefaultNumThreadsIsPositive) {
  EXPECT_GE(ThreadPool::DefaultNumThreads(), 1);
  ThreadPool pool(ThreadPool::DefaultNumThreads());
  EXPECT_EQ(ParallelSum(pool, std::vector<int64_t>(1000, 1), 1), 1000);
}

}  // namespace
}  // namespace commvq
