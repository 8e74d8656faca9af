#include "support/alloc_counter.h"

#include <cstddef>
#include <cstdlib>
#include <new>

namespace {

// Plain thread_locals of trivial types: no TLS constructor runs inside
// operator new.
thread_local int tl_counting = 0;
thread_local int tl_paused = 0;
thread_local uint64_t tl_count = 0;

void* allocate(std::size_t bytes, std::size_t alignment) {
  if (tl_counting > 0 && tl_paused == 0) ++tl_count;
  if (bytes == 0) bytes = 1;  // new must return a distinct pointer
  if (alignment <= alignof(std::max_align_t)) return std::malloc(bytes);
  void* p = nullptr;
  return posix_memalign(&p, alignment, bytes) == 0 ? p : nullptr;
}

void* allocate_or_throw(std::size_t bytes, std::size_t alignment) {
  void* p = allocate(bytes, alignment);
  if (!p) throw std::bad_alloc();
  return p;
}

std::size_t alignment_of(std::align_val_t a) { return static_cast<std::size_t>(a); }

}  // namespace

namespace nonstick::testing {

CountAllocations::CountAllocations() : start_(tl_count) { ++tl_counting; }
CountAllocations::~CountAllocations() { --tl_counting; }
uint64_t CountAllocations::count() const { return tl_count - start_; }

PauseAllocationCount::PauseAllocationCount() { ++tl_paused; }
PauseAllocationCount::~PauseAllocationCount() { --tl_paused; }

}  // namespace nonstick::testing

// ---- Replacements of every global allocation and deallocation function.
void* operator new(std::size_t n) { return allocate_or_throw(n, 0); }
void* operator new[](std::size_t n) { return allocate_or_throw(n, 0); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return allocate(n, 0); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return allocate(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) { return allocate_or_throw(n, alignment_of(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return allocate_or_throw(n, alignment_of(a)); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return allocate(n, alignment_of(a));
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return allocate(n, alignment_of(a));
}

void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
