// os::IoRing on both of its backends: io_uring, and the synchronous ring a process gets when
// it cannot have io_uring (RLIMIT_MEMLOCK of 0). Each request must come back with the bytes
// and the result the same system call gives, whichever backend carried it.
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/uio.h>
#include <thread>
#include <unistd.h>
#include <vector>
#include <vmemu/os/io_ring.hpp>
#include <vmemu/os/io_ring_pool.hpp>

namespace {

using vmemu::os::IoRing;

class IoRingTest : public ::testing::TestWithParam<IoRing::Backend> {
protected:
    void SetUp() override
    {
        char path[] = "/tmp/vmemu-io-ring-XXXXXX";
        m_fd = mkstemp(path);
        ASSERT_GE(m_fd, 0);
        unlink(path);
        auto ring = IoRing::create(8, GetParam());
        ASSERT_TRUE(ring) << ring.error().what();
        m_ring = std::move(*ring);
        if (GetParam() == IoRing::Backend::Sync) {
            ASSERT_FALSE(m_ring->is_io_uring());
        }
    }
    void TearDown() override { close(m_fd); }

    IoRing::Completion one_completion()
    {
        IoRing::Completion completion {};
        int taken;
        while ((taken = m_ring->wait_completions(&completion, 1)) == -EINTR) { }
        EXPECT_EQ(taken, 1);
        return completion;
    }

    int m_fd = -1;
    std::unique_ptr<IoRing> m_ring;
};

TEST_P(IoRingTest, WritesAndReadsBackAtTheirOffsets)
{
    std::vector<char> out(8192), in(8192);
    for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = static_cast<char>(i * 7 + 1);
    ASSERT_TRUE(m_ring->queue_write(m_fd, out.data(), 4096, 4096, 11));
    ASSERT_EQ(m_ring->submit(), 1);
    auto written = one_completion();
    EXPECT_EQ(written.user_data, 11u);
    EXPECT_EQ(written.result, 4096);
    // The file now holds a hole of 4096 bytes, then the page.
    ASSERT_TRUE(m_ring->queue_read(m_fd, in.data(), 8192, 0, 12));
    ASSERT_EQ(m_ring->submit(), 1);
    auto read = one_completion();
    EXPECT_EQ(read.user_data, 12u);
    EXPECT_EQ(read.result, 8192);
    EXPECT_EQ(std::memcmp(in.data() + 4096, out.data(), 4096), 0);
    EXPECT_EQ(in[0], 0);
}

TEST_P(IoRingTest, VectoredRequestsSeeOneContiguousRange)
{
    char a[4096], b[4096], c[8192];
    std::memset(a, 'a', sizeof a);
    std::memset(b, 'b', sizeof b);
    iovec out[2] = { { a, sizeof a }, { b, sizeof b } };
    ASSERT_TRUE(m_ring->queue_writev(m_fd, out, 2, 0, 1));
    ASSERT_EQ(m_ring->submit(), 1);
    EXPECT_EQ(one_completion().result, 8192);
    std::memset(a, 0, sizeof a);
    std::memset(b, 0, sizeof b);
    iovec in[2] = { { b, sizeof b }, { a, sizeof a } };
    ASSERT_TRUE(m_ring->queue_readv(m_fd, in, 2, 0, 2));
    ASSERT_EQ(m_ring->submit(), 1);
    EXPECT_EQ(one_completion().result, 8192);
    EXPECT_EQ(b[0], 'a');
    EXPECT_EQ(a[4095], 'b');
    ASSERT_EQ(pread(m_fd, c, sizeof c, 0), 8192);
    EXPECT_EQ(c[4096], 'b');
}

TEST_P(IoRingTest, AReadPastTheEndIsShortAndABadDescriptorIsEbadf)
{
    char page[4096] = { 1 };
    ASSERT_EQ(pwrite(m_fd, page, 100, 0), 100);
    ASSERT_TRUE(m_ring->queue_read(m_fd, page, sizeof page, 0, 1));
    ASSERT_TRUE(m_ring->queue_read(-1, page, sizeof page, 0, 2));
    ASSERT_EQ(m_ring->submit(), 2);
    IoRing::Completion completions[2];
    int taken = 0;
    while (taken < 2) {
        int got = m_ring->wait_completions(completions + taken, 2 - taken);
        ASSERT_GT(got, 0);
        taken += got;
    }
    for (const auto& completion : completions)
        EXPECT_EQ(completion.result, completion.user_data == 1 ? 100 : -EBADF);
}

TEST_P(IoRingTest, InjectedErrorsAndShortWritesComeBackAsFromADisk)
{
    char page[4096] = { 2 };
    m_ring->inject_errors(IoRing::Op::Write, EIO, 1);
    ASSERT_TRUE(m_ring->queue_write(m_fd, page, sizeof page, 0, 5));
    m_ring->submit();
    auto failed = one_completion();
    EXPECT_EQ(failed.user_data, 5u);
    EXPECT_EQ(failed.result, -EIO);
    EXPECT_EQ(lseek(m_fd, 0, SEEK_END), 0) << "a failed write reached the file";
    m_ring->inject_short_writes(1);
    ASSERT_TRUE(m_ring->queue_write(m_fd, page, sizeof page, 0, 6));
    m_ring->submit();
    EXPECT_EQ(one_completion().result, 2048);
}

// More requests than the completion queue holds, reaped by another thread as they come: the
// submitter waits for room, nothing is lost, and each completion is the one its request asked for.
TEST_P(IoRingTest, AReaperInAnotherThreadGetsEveryCompletion)
{
    constexpr unsigned kRequests = 2000;
    std::vector<char> bytes(kRequests);
    for (unsigned i = 0; i < kRequests; ++i)
        bytes[i] = static_cast<char>(i);
    std::vector<int> results(kRequests, -1);
    std::thread reaper([&] {
        for (unsigned seen = 0; seen < kRequests;) {
            IoRing::Completion completions[16];
            int taken = m_ring->wait_completions(completions, 16);
            if (taken < 0)
                continue;
            for (int i = 0; i < taken; ++i)
                results[completions[i].user_data] = completions[i].result;
            seen += static_cast<unsigned>(taken);
        }
    });
    for (unsigned i = 0; i < kRequests; ++i) {
        while (!m_ring->queue_write(m_fd, &bytes[i], 1, i, i))
            ASSERT_GE(m_ring->submit(), 0);
    }
    ASSERT_GE(m_ring->submit(), 0);
    reaper.join();
    for (unsigned i = 0; i < kRequests; ++i)
        ASSERT_EQ(results[i], 1) << "request " << i;
    std::vector<char> file(kRequests);
    ASSERT_EQ(pread(m_fd, file.data(), kRequests, 0), static_cast<ssize_t>(kRequests));
    EXPECT_EQ(file, bytes);
}

INSTANTIATE_TEST_SUITE_P(Backends, IoRingTest, ::testing::Values(IoRing::Backend::Auto, IoRing::Backend::Sync),
    [](const auto& info) { return info.param == IoRing::Backend::Auto ? "IoUring" : "Sync"; });

TEST(IoRing, ARingOfNoEntriesIsEinval)
{
    auto ring = IoRing::create(0, IoRing::Backend::Sync);
    ASSERT_FALSE(ring);
    EXPECT_EQ(ring.error().code(), EINVAL);
}

} // namespace
