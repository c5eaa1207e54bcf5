#pragma once
#include <array>
#include <atomic>
#include <memory>
#include <thread>
#include <vmemu/base/vm_error.hpp>
#include <vmemu/os/userfaultfd.hpp>

namespace vmemu {

class AddressSpace;
class Machine;

// The userfaultfd fault source. The reservations are registered for missing pages, and a
// missing page's fault is resolved through the same handle_mm_fault() as the SIGSEGV source's:
// - with Delivery::Sigbus, in the faulting thread, by the SIGBUS handler of the signal fault
//   source (signal_fault_source.hpp); this object holds the descriptor and the registrations;
// - with Delivery::Message, by a thread of vmemu's that reads the events and wakes the
//   faulting thread; the kernel's own accesses (a read(2) into a swapped-out buffer) then wait
//   for vmemu too, unless the process may only have UFFD_USER_MODE_ONLY (user_mode_only()).
// Protection faults and wild accesses stay with the SIGSEGV source: the kernel raises them
// before any missing page.
// Locking: the address spaces are found through per-slot atomics; attach and detach happen
// while no fault is in progress on that space (creation, destruction).
class UserfaultFaultSource {
public:
    static VmResult<std::unique_ptr<UserfaultFaultSource>> create(Machine& machine,
        os::Userfaultfd::Delivery delivery);
    ~UserfaultFaultSource();
    UserfaultFaultSource(const UserfaultFaultSource&) = delete;
    UserfaultFaultSource& operator=(const UserfaultFaultSource&) = delete;

    bool user_mode_only() const { return m_uffd.user_mode_only(); }
    os::Userfaultfd::Delivery delivery() const { return m_uffd.delivery(); }
    // Gives space's hardware view the descriptor and a registered staging pool.
    VmResult<void> attach(AddressSpace& space);
    void detach(AddressSpace& space);
    // In a child of fork(), whose inherited descriptor and thread are the parent's: a
    // userfaultfd (and a thread) of its own, with the address spaces' pools registered again.
    // Their reservations are registered when they are taken back (AddressSpace::adopt_in_child(),
    // after this). Called with every lock of the machine held.
    VmResult<void> reopen_in_child();

private:
    UserfaultFaultSource(Machine& machine, os::Userfaultfd uffd);
    // With Delivery::Message: the thread that reads the events, and its stop eventfd.
    VmResult<void> start();
    // Gives the arena its anonymous map (FrameArena::add_anon_map()) where the userfaultfd can
    // write-protect, and registers it as a UFFDIO_MOVE target.
    VmResult<void> register_anon_map();
    // Registers space's pool (pool, or a new one when empty).
    VmResult<void> register_space(AddressSpace& space, VirtAddr pool);
    void run();
    AddressSpace* space_for(std::uintptr_t address) const;
    void resolve(const os::Userfaultfd::Fault& fault);

    Machine& m_machine;
    os::Userfaultfd m_uffd;
    int m_stop_fd { -1 };
    std::array<std::atomic<AddressSpace*>, 64> m_spaces {};
    std::thread m_thread;
};

} // namespace vmemu
