#pragma once
#include <array>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <vmemu/base/vm_error.hpp>
#include <vmemu/sync/spinlock.hpp>

namespace vmemu {

class AddressSpace;

// The SIGSEGV fault source: a SIGSEGV handler that runs in the faulting thread, finds the
// address space whose reservation holds the address, and calls its handle_mm_fault(). Every
// fault that is not vmemu's to resolve goes to the program as the kernel would deliver it: to
// the handler the program installed (before or after vmemu: vmemu interposes sigaction() and
// signal() for SIGSEGV), with SEGV_MAPERR or SEGV_ACCERR as the emulated VMAs decide, or, with
// no handler, as a death by SIGSEGV with a core dump.
// There is one per process, because a signal disposition is process-wide. In a child of
// fork() an address space is stale (the reservation and the frames are the parent's, and not
// inherited) until Machine::fork_child() gives it memory of its own: until then the child
// gets SIGSEGV where it is, instead of silently sharing the parent's frames.
// Locking: m_lock serializes attach, detach and the program's sigaction calls. The handler
// takes no lock of its own: it finds address spaces through per-slot atomics, and the slot's
// user count keeps a detaching address space alive until the faults on it have returned.
class SignalFaultSource {
public:
    static constexpr std::size_t kMaxAddressSpaces = 64;

    static SignalFaultSource& instance();

    // Routes faults in space's reservation to it; installs the handler with the first space.
    // ENOSPC beyond kMaxAddressSpaces; errors of sigaction.
    VmResult<void> attach(AddressSpace& space);
    // Stops routing faults to space, waiting for those in progress; restores the program's
    // disposition when the last space goes.
    void detach(AddressSpace& space);

    // In a child of fork(): space has memory of its own again (Machine::fork_child()).
    void adopt_in_child(AddressSpace& space);

    // The program's view of SIGSEGV while vmemu's handler is installed: act replaces the
    // program's handler (which vmemu calls for the program's own faults), old receives the
    // previous one. Returns false, doing nothing, when vmemu's handler is not installed.
    bool program_sigaction(const struct sigaction* act, struct sigaction* old);

    constexpr SignalFaultSource() = default;

private:
    struct Slot {
        std::atomic<AddressSpace*> space { nullptr };
        std::atomic<std::uint32_t> users { 0 };
        std::atomic<bool> stale { false };
    };

    static void handle_sigsegv(int signal, siginfo_t* info, void* context);
    void store_program_action_locked(const struct sigaction& action) VM_REQUIRES(m_lock);
    static void install_fork_handlers();
    void before_fork();
    void after_fork();
    void after_fork_in_child();
    void report_stale(std::uintptr_t address);
    void deliver_to_program(int signal, siginfo_t* info, void* context);
    void report_fatal(const char* what, std::uintptr_t address);
    static void raise_sigbus(std::uintptr_t address);
    struct sigaction program_action() const;

    Spinlock m_lock;
    std::array<Slot, kMaxAddressSpaces> m_slots {};
    std::size_t m_attached VM_GUARDED_BY(m_lock) { 0 };
    // The program's SIGSEGV action, under a sequence count: odd while m_lock's holder writes it.
    std::atomic<std::uint32_t> m_action_sequence { 0 };
    struct sigaction m_program_action VM_GUARDED_BY(m_lock) {};
};

} // namespace vmemu
