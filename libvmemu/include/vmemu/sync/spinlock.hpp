#pragma once
#include <vmemu/sync/mutex.hpp>

namespace vmemu {

// The locks the kernel makes spinlocks (the zone lock, the lru_lock, si->lock) keep that name
// here, for short critical sections that make no system calls. They are Mutexes all the same:
// in user space a holder can be preempted in the middle of its few instructions, and a waiter
// that only spins burns the rest of its time slice; a Mutex spins briefly, then sleeps.
using Spinlock = Mutex;

} // namespace vmemu
