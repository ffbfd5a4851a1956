// A small fixed-size thread pool for data-parallel loops over index ranges
// (e.g. quantizing many KV-cache rows at once).
//
// Built on std::thread, std::mutex and std::condition_variable rather than
// absl::Mutex or OpenMP so ThreadSanitizer sees every synchronization.
//
// Thread safety: ParallelFor may be called concurrently from any number of
// threads, including from inside a `fn` running on this pool (a nested call);
// the caller always works on its own range, so nesting cannot deadlock.
// Destroying the pool while a ParallelFor is running is undefined.
#ifndef COMMVQ_BASE_THREAD_POOL_H_
#define COMMVQ_BASE_THREAD_POOL_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace commvq {

class ThreadPool {
 public:
  // Runs ParallelFor work on `num_threads` threads: the calling thread plus
  // num_threads - 1 workers started here. 1 (or less) starts no workers and
  // runs everything on the calling thread.
  explicit ThreadPool(int num_threads);
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  // Joins the workers.
  ~ThreadPool();

  int num_threads() const { return num_threads_; }

  // Calls fn(chunk_begin, chunk_end) over contiguous chunks that exactly
  // cover [begin, end), and returns once all calls have finished. The split
  // depends only on the arguments and num_threads(): min(num_threads(),
  // (end - begin) / grain) chunks (at least one) of near-equal size, so every
  // chunk has at least `grain` elements unless the whole range is smaller
  // (a grain below 1 counts as 1). end - begin must not overflow int64_t.
  // Chunks run concurrently, on the workers and the calling thread; `fn` must
  // be safe to call that way and must not throw. An empty range calls nothing.
  void ParallelFor(int64_t begin, int64_t end, int64_t grain,
                   const std::function<void(int64_t, int64_t)>& fn);

  // std::thread::hardware_concurrency(), or 1 when that is unknown.
  static int DefaultNumThreads();

 private:
  struct Batch;

  void WorkerLoop();
  // Claims the next chunk of `batch` (which must have one left) and runs it;
  // `lock` holds mu_ on entry and exit but not while the chunk runs.
  void RunNextChunk(Batch& batch, std::unique_lock<std::mutex>& lock);

  const int num_threads_;
  std::mutex mu_;
  std::condition_variable work_available_;
  // Batches with unclaimed chunks, oldest first. Guarded by mu_.
  std::deque<Batch*> queue_;
  bool stopping_ = false;  // Guarded by mu_.
  std::vector<std::thread> workers_;
};

}  // namespace commvq

#endif  // COMMVQ_BASE_THREAD_POOL_H_
