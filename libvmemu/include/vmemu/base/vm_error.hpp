#pragma once
#include <cerrno>
#include <expected>
#include <utility>

namespace vmemu {

// An error as the kernel would report it: an errno value, plus a static one-line explanation
// for people. Carrying only a pointer to a string literal keeps it usable on the fault path.
class VmError {
public:
    constexpr VmError(int errno_value, const char* what) noexcept
        : m_errno(errno_value)
        , m_what(what)
    {
    }

    constexpr int code() const noexcept { return m_errno; }
    constexpr const char* what() const noexcept { return m_what; }
    friend constexpr bool operator==(const VmError& a, const VmError& b) noexcept { return a.m_errno == b.m_errno; }

private:
    int m_errno;
    const char* m_what;
};

template<typename T>
using VmResult = std::expected<T, VmError>;

inline std::unexpected<VmError> vm_fail(int errno_value, const char* what) noexcept
{
    return std::unexpected(VmError(errno_value, what));
}

namespace detail {
template<typename T>
T release_value(std::expected<T, VmError>&& result) { return std::move(*result); }
inline void release_value(std::expected<void, VmError>&&) { }
}

} // namespace vmemu

// Evaluates a VmResult; on error returns it from the enclosing function, else yields the value.
#define VM_TRY(expr)                                                                                 \
    ({                                                                                               \
        auto _vm_try_result = (expr);                                                                \
        if (!_vm_try_result.has_value())                                                             \
            return std::unexpected(_vm_try_result.error());                                          \
        ::vmemu::detail::release_value(std::move(_vm_try_result));                                   \
    })
