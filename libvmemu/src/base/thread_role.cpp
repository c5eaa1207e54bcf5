#include <vmemu/base/thread_role.hpp>

namespace vmemu {

namespace {
thread_local bool t_vmemu_thread = false;
} // namespace

void mark_vmemu_thread() noexcept { t_vmemu_thread = true; }
bool is_vmemu_thread() noexcept { return t_vmemu_thread; }

} // namespace vmemu
