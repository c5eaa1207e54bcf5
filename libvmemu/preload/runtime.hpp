#pragma once
#include <string>
#include <memory>
#include <sys/types.h>
#include <vmemu/machine.hpp>
#include "kmalloc.hpp"
#include "settings.hpp"

namespace vmemu::preload {

// The shim's state in a program: its Machine, the one address space the program's heap lives
// in, and the heap. Created by the shim's constructor and never destroyed: the program's
// own destructors may still use the heap after the shim's have run.
struct Runtime {
    // The settings of this process. Its statistics and a named swap file are its own: they
    // are out of the environment that children see, and a child of fork() has neither,
    // unless the statistics' or trace's name has a "%p" in it, which makes a file for each
    // process (settings.hpp).
    RunSettings settings;
    pid_t pid { 0 };
    // The files this process writes at its end, "%p" expanded; empty for none.
    std::string stats_file;
    std::string trace_file;
    std::unique_ptr<Machine> machine;
    std::unique_ptr<AddressSpace> space;
    Kmalloc heap;
};

// nullptr until the heap is ready.
Runtime* runtime();
// Writes this process's trace and statistics files, at its end (exit(), _exit()).
void write_outputs();
// The runtime whose emulated memory serves a call made from caller (a return address), or
// nullptr when libc's heap or the kernel serves it: before the heap is ready, inside vmemu
// (ScopedLibcAllocations), on vmemu's own threads, and for libc's calls from inside itself.
Runtime* runtime_for(const void* caller);
// Whether pointer is in the emulated address space (which the kernel may find unmapped).
inline bool in_emulated_memory(const void* pointer)
{
    Runtime* state = runtime();
    return pointer && state && state->space->in_reservation(VirtAddr(reinterpret_cast<std::uintptr_t>(pointer)));
}

} // namespace vmemu::preload
