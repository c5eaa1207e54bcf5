#include <vmemu/os/syscall_gate.hpp>

// Every syscall instruction here is followed by an instruction inside the range, because
// the kernel checks the address after it: gate_end lies after the last one's successor.
asm(R"(
    .pushsection .text.vmemu_gate,"ax",@progbits
    .p2align 4
    .globl vmemu_gate_begin
    .hidden vmemu_gate_begin
vmemu_gate_begin:

    .globl vmemu_gate_syscall6
    .hidden vmemu_gate_syscall6
    .type vmemu_gate_syscall6, @function
vmemu_gate_syscall6:
    .cfi_startproc
    mov %rdi, %rax
    mov %rsi, %rdi
    mov %rdx, %rsi
    mov %rcx, %rdx
    mov %r8, %r10
    mov %r9, %r8
    mov 8(%rsp), %r9
    syscall
    ret
    .cfi_endproc
    .size vmemu_gate_syscall6, .-vmemu_gate_syscall6

    .globl vmemu_gate_clone_same_stack
    .hidden vmemu_gate_clone_same_stack
    .type vmemu_gate_clone_same_stack, @function
vmemu_gate_clone_same_stack:
    syscall
    movq vmemu_gate_clone_return@gottpoff(%rip), %rcx
    movq %fs:(%rcx), %rcx
    jmp *%rcx
    .size vmemu_gate_clone_same_stack, .-vmemu_gate_clone_same_stack

    .globl vmemu_gate_clone_new_stack
    .hidden vmemu_gate_clone_new_stack
    .type vmemu_gate_clone_new_stack, @function
vmemu_gate_clone_new_stack:
    syscall
    test %rax, %rax
    jnz 1f
    pop %rcx
    jmp *%rcx
1:  movq vmemu_gate_clone_return@gottpoff(%rip), %rcx
    movq %fs:(%rcx), %rcx
    jmp *%rcx
    .size vmemu_gate_clone_new_stack, .-vmemu_gate_clone_new_stack

    .p2align 4
    .globl vmemu_gate_restorer
    .hidden vmemu_gate_restorer
    .type vmemu_gate_restorer, @function
    nop
vmemu_gate_restorer:
    mov $15, %rax
    syscall
    nop
    .size vmemu_gate_restorer, .-vmemu_gate_restorer

    .globl vmemu_gate_end
    .hidden vmemu_gate_end
vmemu_gate_end:
    .popsection
)");

extern "C" {
thread_local std::uintptr_t vmemu_gate_clone_return __attribute__((tls_model("initial-exec"))) = 0;
}

extern "C" char vmemu_gate_begin[];
extern "C" char vmemu_gate_end[];
extern "C" long vmemu_gate_syscall6(long, long, long, long, long, long, long) noexcept;

namespace vmemu::os {


GateRange syscall_gate() noexcept
{
    auto start = reinterpret_cast<std::uintptr_t>(vmemu_gate_begin);
    return { start, reinterpret_cast<std::uintptr_t>(vmemu_gate_end) - start };
}

long gate_syscall(long nr, long a0, long a1, long a2, long a3, long a4, long a5) noexcept
{
    return vmemu_gate_syscall6(nr, a0, a1, a2, a3, a4, a5);
}

} // namespace vmemu::os
