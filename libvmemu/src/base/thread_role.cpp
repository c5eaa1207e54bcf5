#include <atomic>
#include <unistd.h>
#include <vmemu/base/thread_role.hpp>

namespace vmemu {

namespace {
thread_local bool t_vmemu_thread = false;
// The count belongs to one process: a child of fork() has none of its parent's threads.
std::atomic<std::size_t> s_vmemu_threads { 0 };
std::atomic<pid_t> s_counted_pid { 0 };

void count_for_this_process()
{
    pid_t pid = ::getpid();
    if (s_counted_pid.exchange(pid, std::memory_order_acq_rel) != pid)
        s_vmemu_threads.store(0, std::memory_order_relaxed);
}
} // namespace

VmemuThread::VmemuThread() noexcept
{
    t_vmemu_thread = true;
    count_for_this_process();
    s_vmemu_threads.fetch_add(1, std::memory_order_relaxed);
}

VmemuThread::~VmemuThread()
{
    s_vmemu_threads.fetch_sub(1, std::memory_order_relaxed);
    t_vmemu_thread = false;
}

bool is_vmemu_thread() noexcept { return t_vmemu_thread; }

std::size_t vmemu_thread_count() noexcept
{
    return s_counted_pid.load(std::memory_order_acquire) == ::getpid() ? s_vmemu_threads.load(std::memory_order_relaxed)
                                                                       : 0;
}

} // namespace vmemu
