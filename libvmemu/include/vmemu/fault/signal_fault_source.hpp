#pragma once
#include <array>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <vmemu/base/vm_error.hpp>
#include <vmemu/mm/fault_result.hpp>
#include <vmemu/sync/spinlock.hpp>

namespace vmemu {

class AddressSpace;

// The signal fault source: a SIGSEGV handler (and, for address spaces on userfaultfd in SIGBUS
// mode, a SIGBUS handler) that runs in the faulting thread, finds the address space whose
// reservation holds the address, and calls its handle_mm_fault(). Every fault that is not
// vmemu's to resolve goes to the program as the kernel would deliver it: to the handler the
// program installed (before or after vmemu: vmemu interposes sigaction() and signal() for the
// signals it handles), with SEGV_MAPERR or SEGV_ACCERR as the emulated VMAs decide, or, with
// no handler, as a death by the signal with a core dump. A SIGBUS that the kernel raised in a
// reservation on userfaultfd is a missing page; any other (kill(), a file of the program's
// own truncated under its mapping) is the program's.
// There is one per process, because a signal disposition is process-wide. In a child of
// fork() an address space is stale (the reservation and the frames are the parent's, and not
// inherited) until Machine::fork_child() gives it memory of its own: until then the child
// gets SIGSEGV where it is, instead of silently sharing the parent's frames.
// Locking: m_lock serializes attach, detach and the program's sigaction calls. The handlers
// take no lock of their own: they find address spaces through per-slot atomics, and the slot's
// user count keeps a detaching address space alive until the faults on it have returned.
class SignalFaultSource {
public:
    static constexpr std::size_t kMaxAddressSpaces = 64;

    static SignalFaultSource& instance();

    // Whether the kernel reports space's missing pages as SIGBUS (userfaultfd in SIGBUS mode).
    enum class MissingPages : std::uint8_t { Sigsegv, Sigbus };

    // Routes faults in space's reservation to it; installs the SIGSEGV handler with the first
    // space, and the SIGBUS handler with the first space whose missing pages are SIGBUS.
    // ENOSPC beyond kMaxAddressSpaces; errors of sigaction.
    VmResult<void> attach(AddressSpace& space, MissingPages missing);
    // Stops routing faults to space, waiting for those in progress; restores the program's
    // disposition when the last space goes.
    void detach(AddressSpace& space);

    // In a child of fork(): space has memory of its own again (Machine::fork_child()).
    void adopt_in_child(AddressSpace& space);

    // The program's view of SIGSEGV or SIGBUS while vmemu's handler for it is installed: act
    // replaces the program's handler (which vmemu calls for the program's own faults), old
    // receives the previous one. Returns false, doing nothing, for any other signal and when
    // vmemu's handler is not installed.
    bool program_sigaction(int signal, const struct sigaction* act, struct sigaction* old);

    constexpr SignalFaultSource() = default;

private:
    struct Slot {
        std::atomic<AddressSpace*> space { nullptr };
        std::atomic<std::uint32_t> users { 0 };
        std::atomic<bool> stale { false };
        std::atomic<bool> sigbus { false };
    };
    // What the handlers found at a faulting address.
    enum class Lookup : std::uint8_t { NotOurs, Stale, Resolved };
    // The signals vmemu may handle, as indices of m_program_actions.
    static constexpr int kSegv = 0;
    static constexpr int kBus = 1;
    static constexpr int action_index(int signal) { return signal == SIGBUS ? kBus : kSegv; }

    static void handle_sigsegv(int signal, siginfo_t* info, void* context);
    static void handle_sigbus(int signal, siginfo_t* info, void* context);
    // Runs handle_mm_fault() of the space that holds address (of those whose missing pages are
    // SIGBUS, when missing is Sigbus); *result and *space say what came of it when Resolved.
    Lookup resolve(std::uintptr_t address, void* context, MissingPages missing, FaultResult* result,
        AddressSpace** space);
    // What the kernel does after handle_mm_fault() said result: nothing for Handled; SIGSEGV,
    // SIGBUS or the OOM kill otherwise.
    void finish_fault(FaultResult result, AddressSpace& space, std::uintptr_t address, siginfo_t* info,
        void* context);
    VmResult<void> install_handler_locked(int signal, void (*handler)(int, siginfo_t*, void*)) VM_REQUIRES(m_lock);
    void store_program_action_locked(int signal, const struct sigaction& action) VM_REQUIRES(m_lock);
    static void install_fork_handlers();
    void before_fork();
    void after_fork();
    void after_fork_in_child();
    void report_stale(std::uintptr_t address);
    void deliver_to_program(int signal, siginfo_t* info, void* context);
    void report_fatal(const char* what, std::uintptr_t address, void* context);
    void raise_sigbus(std::uintptr_t address, void* context);
    bool owns_sigbus() const { return m_sigbus_owned.load(std::memory_order_acquire); }
    struct sigaction program_action(int signal) const;

    Spinlock m_lock;
    std::array<Slot, kMaxAddressSpaces> m_slots {};
    std::size_t m_attached VM_GUARDED_BY(m_lock) { 0 };
    std::size_t m_sigbus_attached VM_GUARDED_BY(m_lock) { 0 };
    // Whether vmemu's SIGBUS handler is installed (m_sigbus_attached > 0), for the fault path.
    std::atomic<bool> m_sigbus_owned { false };
    // The program's SIGSEGV and SIGBUS actions, under a sequence count: odd while m_lock's
    // holder writes them.
    std::atomic<std::uint32_t> m_action_sequence { 0 };
    struct sigaction m_program_actions[2] VM_GUARDED_BY(m_lock) {};
};

} // namespace vmemu
