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

// The userfaultfd fault source: a thread of vmemu's reads the fault events of a Machine's
// address spaces, resolves each through the same handle_mm_fault() as the SIGSEGV source, and
// wakes the faulting thread. The reservations are registered for missing pages, so that the
// kernel's own accesses (a read(2) into a swapped-out buffer) wait for vmemu too, unless the
// process may only have UFFD_USER_MODE_ONLY (user_mode_only()). Protection faults and wild
// accesses stay with the SIGSEGV source: the kernel raises them before any missing page.
// Locking: the address spaces are found through per-slot atomics; attach and detach happen
// while no fault is in progress on that space (creation, destruction).
class UserfaultFaultSource {
public:
    static VmResult<std::unique_ptr<UserfaultFaultSource>> create(Machine& machine);
    ~UserfaultFaultSource();
    UserfaultFaultSource(const UserfaultFaultSource&) = delete;
    UserfaultFaultSource& operator=(const UserfaultFaultSource&) = delete;

    bool user_mode_only() const { return m_uffd.user_mode_only(); }
    // Registers space's reservation and gives its hardware view a staging pool.
    VmResult<void> attach(AddressSpace& space);
    void detach(AddressSpace& space);
    // In a child of fork(), whose inherited descriptor and thread are the parent's: a
    // userfaultfd and a thread of its own, with the address spaces (their reservations taken
    // back already) registered again. Called with every lock of the machine held.
    VmResult<void> reopen_in_child();

private:
    UserfaultFaultSource(Machine& machine, os::Userfaultfd uffd, int stop_fd);
    void start();
    // Registers space's reservation and pool (pool, or a new one when empty).
    VmResult<void> register_space(AddressSpace& space, VirtAddr pool);
    void run();
    AddressSpace* space_for(std::uintptr_t address) const;
    void resolve(const os::Userfaultfd::Fault& fault);

    Machine& m_machine;
    os::Userfaultfd m_uffd;
    int m_stop_fd;
    std::array<std::atomic<AddressSpace*>, 64> m_spaces {};
    std::thread m_thread;
};

} // namespace vmemu
