#pragma once
// Assertions in two tiers.
//   VM_ASSERT(cond)      cheap, always on; on failure writes one line with async-signal-safe
//                        calls and aborts, so it is usable on the fault path.
//   VM_VALIDATE(expr)    expensive checks (verify_invariants()); compiled in only when the build
//                        option VMEMU_VALIDATE is on, which the test build turns on.

namespace vmemu::detail {
[[noreturn]] void assertion_failed(const char* expr, const char* file, int line) noexcept;
}

#define VM_ASSERT(cond)                                                                              \
    do {                                                                                             \
        if (__builtin_expect(!(cond), 0))                                                            \
            ::vmemu::detail::assertion_failed(#cond, __FILE__, __LINE__);                            \
    } while (0)

#define VM_UNREACHABLE() ::vmemu::detail::assertion_failed("unreachable", __FILE__, __LINE__)

#ifdef VMEMU_VALIDATE
#    define VM_VALIDATE(expr) (expr)
inline constexpr bool kValidate = true;
#else
#    define VM_VALIDATE(expr) ((void)0)
inline constexpr bool kValidate = false;
#endif
