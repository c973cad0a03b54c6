// A ceiling on single C++ allocations, linked into the DICOM replay
// (tests/robust/replay_dicom). DCMTK reserves an element's declared length
// with new(nothrow) before it reads the value, so a length that got past the
// length walk (lib/io/dicom_walk.cpp) shows up as one huge allocation.
// Fuzzing catches it through libFuzzer's -malloc_limit_mb; in the replay, on
// a machine with memory to spare, that allocation would simply succeed and
// the regression input would pass without its fix. Here it aborts, naming
// the size. The replay's inputs are at most 16 KiB, so nothing legitimate
// comes near the ceiling.
#include <cstdio>
#include <cstdlib>
#include <new>

extern "C" const char *replay_current_input; // fuzz/replay_main.c

namespace
{

constexpr std::size_t ceiling = std::size_t(256) << 20;

void *take(std::size_t n)
{
    if (n > ceiling) {
        std::fprintf(stderr,
                     "replay: %s: one allocation of %zu bytes, over the %zu-byte ceiling: a "
                     "declared length got past the DICOM length walk\n",
                     replay_current_input, n, ceiling);
        std::abort();
    }
    return std::malloc(n ? n : 1);
}

void *take_or_throw(std::size_t n)
{
    void *p = take(n);
    if (!p)
        throw std::bad_alloc();
    return p;
}

} // namespace

void *operator new(std::size_t n) { return take_or_throw(n); }
void *operator new[](std::size_t n) { return take_or_throw(n); }
void *operator new(std::size_t n, const std::nothrow_t &) noexcept { return take(n); }
void *operator new[](std::size_t n, const std::nothrow_t &) noexcept { return take(n); }
void operator delete(void *p) noexcept { std::free(p); }
void operator delete[](void *p) noexcept { std::free(p); }
void operator delete(void *p, std::size_t) noexcept { std::free(p); }
void operator delete[](void *p, std::size_t) noexcept { std::free(p); }
void operator delete(void *p, const std::nothrow_t &) noexcept { std::free(p); }
void operator delete[](void *p, const std::nothrow_t &) noexcept { std::free(p); }
