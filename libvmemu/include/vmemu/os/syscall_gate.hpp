#pragma once
// The system-call gate: a few instructions of vmemu's own from which Syscall User Dispatch
// never diverts a system call (the range given to PR_SET_SYSCALL_USER_DISPATCH), whatever the
// thread's selector says. Through it vmemu re-issues the program's calls from its SIGSYS
// handler, and every signal handler of the process returns (the sa_restorer that real_sigaction
// installs), so that rt_sigreturn runs while program code has its calls diverted.
// The restorer's bytes are glibc's __restore_rt (mov $15,%rax; syscall), the pattern by which
// libgcc's unwinder recognizes a signal frame.
#include <cstddef>
#include <cstdint>

namespace vmemu::os {

struct GateRange {
    std::uintptr_t start;
    std::size_t length;
};

// [start, start + length) holds the address after each syscall instruction of the gate.
GateRange syscall_gate() noexcept;

// The system call nr with its six arguments, issued from the gate: the kernel's result,
// -errno on failure (errno is left alone).
long gate_syscall(long nr, long a0, long a1, long a2, long a3, long a4, long a5) noexcept;

// The sa_restorer of every handler vmemu installs.
extern "C" void vmemu_gate_restorer() noexcept;

// Trampolines for clone(), fork() and vfork() trapped by Syscall User Dispatch. The call must
// not run in the SIGSYS handler (the child would return through the parent's signal frame), so
// the handler stores the address to resume at and points the interrupted context at one of
// these; the trampoline issues the call from the gate and jumps back to the program in parent
// and child alike, leaving only rcx and r11 changed, as a syscall instruction does.
// - same stack (fork, vfork, clone without a stack): both resume at clone_return in the
//   calling thread's TLS, which a child of fork() has a copy of and a child of vfork() shares
//   (and does not touch: it is not armed). Never the stack: a vfork() child writes over it.
// - new stack (clone with one): the parent as above; the kernel is given the child's stack
//   minus 8, holding the address, which the child pops (its TLS may be a new one).
extern "C" void vmemu_gate_clone_same_stack() noexcept;
extern "C" void vmemu_gate_clone_new_stack() noexcept;
extern "C" thread_local std::uintptr_t vmemu_gate_clone_return __attribute__((tls_model("initial-exec")));

} // namespace vmemu::os
