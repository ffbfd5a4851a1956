#include "commvq/base/thread_pool.h"

#include <algorithm>

namespace commvq {

// One ParallelFor call. Lives on the caller's stack: the caller returns only
// after `unfinished` reaches 0, and the last worker to touch it notifies
// `done` while holding mu_, so no worker can touch it after it is gone.
struct ThreadPool::Batch {
  Batch(const std::function<void(int64_t, int64_t)>& fn, int64_t begin,
        int64_t size, int64_t num_chunks)
      : fn(fn), begin(begin), size(size), num_chunks(num_chunks) {}

  // Start of chunk i; i == num_chunks gives `end`. Spreads the remainder over
  // the first chunks without computing i * size, which could overflow.
  int64_t ChunkBegin(int64_t i) const {
    return begin + i * (size / num_chunks) + std::min(i, size % num_chunks);
  }

  const std::function<void(int64_t, int64_t)>& fn;
  const int64_t begin;
  const int64_t size;
  const int64_t num_chunks;
  // Guarded by the pool's mu_.
  int64_t next_chunk = 0;
  int64_t unfinished = num_chunks;
  std::condition_variable done;
};

ThreadPool::ThreadPool(int num_threads)
    : num_threads_(std::max(num_threads, 1)) {
  workers_.reserve(num_threads_ - 1);
  for (int i = 1; i < num_threads_; ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  work_available_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

int ThreadPool::DefaultNumThreads() {
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

void ThreadPool::ParallelFor(int64_t begin, int64_t end, int64_t grain,
                             const std::function<void(int64_t, int64_t)>& fn) {
  if (end <= begin) return;
  const int64_t size = end - begin;
  const int64_t num_chunks =
      std::clamp<int64_t>(size / std::max<int64_t>(grain, 1), 1, num_threads_);
  if (num_chunks == 1) {
    fn(begin, end);
    return;
  }
  Batch batch(fn, begin, size, num_chunks);
  std::unique_lock<std::mutex> lock(mu_);
  queue_.push_back(&batch);
  for (int64_t i = 1; i < num_chunks; ++i) work_available_.notify_one();
  // Work on our own chunks rather than only waiting, so progress never
  // depends on a free worker (this is what makes nested calls safe).
  while (batch.next_chunk < batch.num_chunks) RunNextChunk(batch, lock);
  batch.done.wait(lock, [&batch] { return batch.unfinished == 0; });
}

void ThreadPool::WorkerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    work_available_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;
    RunNextChunk(*queue_.front(), lock);
  }
}

void ThreadPool::RunNextChunk(Batch& batch,
                              std::unique_lock<std::mutex>& lock) {
  const int64_t chunk = batch.next_chunk++;
  if (batch.next_chunk == batch.num_chunks) {
    queue_.erase(std::find(queue_.begin(), queue_.end(), &batch));
  }
  lock.unlock();
  batch.fn(batch.ChunkBegin(chunk), batch.ChunkBegin(chunk + 1));
  lock.lock();
  if (--batch.unfinished == 0) batch.done.notify_one();
}

}  // namespace commvq
