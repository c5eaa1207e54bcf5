#pragma once
#include <csignal>
#include <cstddef>
#include <pthread.h>
#include <thread>
#include <utility>

namespace vmemu {

// The threads vmemu runs itself: kswapd, the flusher, the userfaultfd handler, and the
// completion threads of swap and file I/O. Code that
// reclaims or completes swap I/O must never fault on emulated memory, so the LD_PRELOAD shim
// serves these threads' allocations from libc's heap, never from the emulated one.
// A VmemuThread marks the thread it is made on for its lifetime, and counts it.
class VmemuThread {
public:
    VmemuThread() noexcept;
    ~VmemuThread();
    VmemuThread(const VmemuThread&) = delete;
    VmemuThread& operator=(const VmemuThread&) = delete;
};

bool is_vmemu_thread() noexcept;
// How many of the process's threads are vmemu's own now.
std::size_t vmemu_thread_count() noexcept;

// Starts a thread of vmemu's own that runs body(): a VmemuThread, named name (at most 15
// characters) when it is not nullptr, with every signal blocked, as the program's signals
// belong to the program's threads.
template<typename Body>
std::thread start_vmemu_thread(const char* name, Body body)
{
    return std::thread([name, body = std::move(body)]() mutable {
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, nullptr);
        if (name)
            pthread_setname_np(pthread_self(), name);
        VmemuThread role;
        body();
    });
}

} // namespace vmemu
