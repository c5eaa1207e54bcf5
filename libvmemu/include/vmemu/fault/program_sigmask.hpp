#pragma once
// The program's signal mask, as vmemu's sigprocmask() keeps it (sigmask_interpose.cpp).
#include <csignal>

namespace vmemu {

// rt_sigprocmask(how, set, old_set) of the program applied to *context_mask, the mask a signal
// handler's return restores, instead of the thread's: the fault signals are kept out of it
// and remembered as believed blocked, as for the thread's own mask. 0 or -errno.
long program_sigprocmask_in_context(int how, const sigset_t* set, sigset_t* old_set, sigset_t* context_mask);

} // namespace vmemu
