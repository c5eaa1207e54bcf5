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
    SigBus,      // the page's data is lost: a swap-in failed (VM_FAULT_SIGBUS)
};

} // namespace vmemu
