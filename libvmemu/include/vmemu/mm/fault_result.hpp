#pragma once
#include <cstdint>

namespace vmemu {

// What handle_mm_fault() decided, as the VM_FAULT_* codes and bad-area paths of Linux.
enum class FaultResult : std::uint8_t {
    Handled,     // the access may be retried; the hardware view now allows it (or a racing fault did)
    MapError,    // no VMA at the address: SIGSEGV with SEGV_MAPERR
    AccessError, // the VMA forbids the access: SIGSEGV with SEGV_ACCERR
    OutOfMemory, // no frame could be found (VM_FAULT_OOM)
    MapLimit,    // the kernel-mapping budget (vm.max_map_count) is exhausted
    SigBus,      // past the end of the mapped file: SIGBUS, and nothing said (VM_FAULT_SIGBUS)
    IoError,     // the page's data could not be read back: a swap-in or a file read failed;
                 // SIGBUS, after a line that says so (VM_FAULT_SIGBUS, and the I/O error's report)
    KernelRefused, // the host kernel would not map the frame, neither for vm.max_map_count nor
                   // for lack of memory (its errno is said then): SIGBUS, after a line that says so
};

// The reason a fault source gives, on the line before the SIGBUS, for a fault it could not
// serve; nullptr for a touch past the end of a file, and for the results that are no SIGBUS.
constexpr const char* sigbus_reason(FaultResult result)
{
    switch (result) {
    case FaultResult::IoError: return "the page could not be read in (I/O error)";
    case FaultResult::MapLimit: return "kernel mapping limit (vm.max_map_count) reached";
    case FaultResult::KernelRefused: return "the kernel refused to map the page";
    default: return nullptr;
    }
}

// Whether the faulting thread gets SIGBUS.
constexpr bool is_sigbus(FaultResult result) { return result == FaultResult::SigBus || sigbus_reason(result); }

} // namespace vmemu
