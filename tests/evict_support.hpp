#pragma once
// What the preloaded system-call tests share: a way to push the program's recent memory out of
// vmemu's frames on demand, and a checksum of bytes the kernel wrote.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace vmemu::test {

// A heap area of 16 MiB, twice the frames the tests give `vmemu run` (8M): touching all of it
// swaps out whatever the program touched before. Natively it only costs time.
class Evictor {
public:
    static constexpr std::size_t kBytes = std::size_t { 16 } << 20;

    Evictor()
        : m_area(static_cast<char*>(std::malloc(kBytes)))
    {
        std::memset(m_area, 1, kBytes);
    }
    ~Evictor() { std::free(m_area); }
    Evictor(const Evictor&) = delete;
    Evictor& operator=(const Evictor&) = delete;

    // Writes one byte of every page, a new value each time, so that every page is dirtied.
    void evict()
    {
        ++m_round;
        for (std::size_t i = 0; i < kBytes; i += 4096)
            m_area[i] = static_cast<char>(m_round);
    }

private:
    char* m_area;
    unsigned char m_round { 0 };
};

// FNV-1a over bytes.
inline std::uint64_t checksum(const void* data, std::size_t bytes)
{
    std::uint64_t hash = 1469598103934665603ull;
    for (std::size_t i = 0; i < bytes; ++i)
        hash = (hash ^ static_cast<const unsigned char*>(data)[i]) * 1099511628211ull;
    return hash;
}

} // namespace vmemu::test
