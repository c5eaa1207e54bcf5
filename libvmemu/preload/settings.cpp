#include <cstring>
#include <vmemu/base/parse_size.hpp>
#include "settings.hpp"

namespace vmemu::preload {

const char* set_frames(RunSettings& settings, const char* text)
{
    auto bytes = parse_size(text);
    if (!bytes || *bytes % 4096 != 0)
        return "malformed size for the frames (bytes with K, M or G (KiB, MiB, GiB), a multiple of 4K; "
               "MB is 1000000 bytes)";
    if (*bytes < RunSettings::kMinFrames)
        return "frames too small to run a program (at least 4M)";
    settings.frames_bytes = *bytes;
    return nullptr;
}

const char* set_swap_size(RunSettings& settings, const char* text)
{
    auto bytes = parse_size(text);
    if (!bytes || *bytes % 4096 != 0 || *bytes < 2 * 4096)
        return "malformed swap size (bytes with K, M or G (KiB, MiB, GiB), a multiple of 4K, at least 8K; "
               "MB is 1000000 bytes)";
    settings.swap_bytes = *bytes;
    return nullptr;
}

const char* set_backend(RunSettings& settings, const char* text)
{
    if (std::strcmp(text, "auto") == 0)
        settings.backend = Backend::Auto;
    else if (std::strcmp(text, "signal") == 0)
        settings.backend = Backend::Signal;
    else if (std::strcmp(text, "uffd") == 0)
        settings.backend = Backend::Uffd;
    else
        return "unknown backend (auto, uffd or signal)";
    return nullptr;
}

const char* set_syscall_guard(RunSettings& settings, const char* text)
{
    if (std::strcmp(text, "on") == 0)
        settings.syscall_guard = SyscallGuard::On;
    else if (std::strcmp(text, "off") == 0)
        settings.syscall_guard = SyscallGuard::Off;
    else
        return "unknown syscall guard (on or off)";
    return nullptr;
}

const char* read_environment(RunSettings& settings, char** environment)
{
    auto value_of = [&](const char* name) -> const char* {
        std::size_t length = std::strlen(name);
        for (char** entry = environment; entry && *entry; ++entry) {
            if (std::strncmp(*entry, name, length) == 0 && (*entry)[length] == '=')
                return *entry + length + 1;
        }
        return nullptr;
    };
    if (const char* frames = value_of("VMEMU_FRAMES"); frames && *frames)
        if (const char* error = set_frames(settings, frames))
            return error;
    if (const char* swap_size = value_of("VMEMU_SWAP_SIZE"); swap_size && *swap_size)
        if (const char* error = set_swap_size(settings, swap_size))
            return error;
    if (const char* backend = value_of("VMEMU_BACKEND"); backend && *backend)
        if (const char* error = set_backend(settings, backend))
            return error;
    if (const char* guard = value_of("VMEMU_SYSCALL_GUARD"); guard && *guard)
        if (const char* error = set_syscall_guard(settings, guard))
            return error;
    if (const char* swap = value_of("VMEMU_SWAP"); swap && *swap)
        settings.swap_path = swap;
    if (const char* stats = value_of("VMEMU_STATS"); stats && *stats)
        settings.stats = stats;
    if (const char* trace = value_of("VMEMU_TRACE"); trace && *trace)
        settings.trace = trace;
    if (const char* events = value_of("VMEMU_TRACE_EVENTS"); events && *events)
        settings.trace_events = events;
    return nullptr;
}

std::string output_file_for(const char* pattern, pid_t pid)
{
    std::string name;
    for (const char* at = pattern; *at; ++at) {
        if (at[0] == '%' && at[1] == 'p') {
            name += std::to_string(pid);
            ++at;
        } else if (at[0] == '%' && at[1] == '%') {
            name += '%';
            ++at;
        } else {
            name += *at;
        }
    }
    return name;
}

bool names_each_process(const char* pattern)
{
    for (const char* at = pattern; at && *at; ++at) {
        if (at[0] == '%' && at[1] == 'p')
            return true;
        if (at[0] == '%' && at[1] == '%')
            ++at;
    }
    return false;
}

} // namespace vmemu::preload
