// Counts the global operator new calls of the current thread while a
// CountAllocations is alive, to prove that a code path allocates nothing.
//
// The replacement operators (alloc_counter.cc) are compiled into the test
// binary only, never into a library. Every form of new and delete is replaced
// (plain, array, nothrow, aligned, sized), all deferring to malloc/free, so
// no pointer ever crosses allocators; under -DNONSTICK_SANITIZE=ON AddressSanitizer
// still checks every block through its malloc/free interceptors (it only loses
// its new/delete-mismatch report). Outside a CountAllocations scope the cost
// is one thread-local test per call. malloc called directly is not counted.
#pragma once

#include <cstdint>

namespace nonstick::testing {

class CountAllocations {
 public:
  CountAllocations();
  ~CountAllocations();
  CountAllocations(const CountAllocations&) = delete;
  CountAllocations& operator=(const CountAllocations&) = delete;

  // operator new calls of this thread since construction (paused spans excluded).
  uint64_t count() const;

 private:
  uint64_t start_;
};

// Excludes code below a boundary from the count while alive (e.g. the
// simulator under the kernel interface). Nests.
class PauseAllocationCount {
 public:
  PauseAllocationCount();
  ~PauseAllocationCount();
  PauseAllocationCount(const PauseAllocationCount&) = delete;
  PauseAllocationCount& operator=(const PauseAllocationCount&) = delete;
};

}  // namespace nonstick::testing
