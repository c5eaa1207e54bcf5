// The exec family, posix_spawn, system() and popen(). Each hands the kernel strings of the
// program's (the path, argv, envp, the command), which often live in emulated memory: a
// shell builds its argv with malloc(). With the SIGSEGV fault source the kernel's execve()
// would fail with EFAULT on a page vmemu has not mapped, and a posix_spawn() child, which
// runs on its parent's memory with every signal blocked, cannot take a fault at all. So the
// wrappers copy those strings to libc's heap first (reading them faults them in as any read
// does), and call libc's function with the copies.
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <spawn.h>
#include <unistd.h>
#include "libc_heap.hpp"
#include "runtime.hpp"

extern char** environ;

namespace vmemu::preload {
namespace {

// A NULL-terminated array of strings and extra strings after them (up to the first nullptr of
// extra; none when it is nullptr), packed into one block: the bytes it takes, and the packing.
std::size_t packed_vector_bytes(char* const* strings, const char* const* extra)
{
    std::size_t entries = 1;
    std::size_t bytes = 0;
    for (; *strings; ++strings, ++entries)
        bytes += std::strlen(*strings) + 1;
    for (; extra && *extra; ++extra, ++entries)
        bytes += std::strlen(*extra) + 1;
    return entries * sizeof(char*) + bytes;
}

char** pack_vector(void* block, char* const* strings, const char* const* extra)
{
    std::size_t count = 0;
    while (strings[count])
        ++count;
    std::size_t extras = 0;
    while (extra && extra[extras])
        ++extras;
    auto* entries = static_cast<char**>(block);
    char* text = reinterpret_cast<char*>(entries + count + extras + 1);
    for (std::size_t i = 0; i < count + extras; ++i) {
        // cppcheck-suppress nullPointer ; past count only when extra holds strings (extras > 0)
        const char* source = i < count ? strings[i] : extra[i - count];
        std::size_t length = std::strlen(source) + 1;
        std::memcpy(text, source, length);
        entries[i] = text;
        text += length;
    }
    entries[count + extras] = nullptr;
    return entries;
}

// The copies of one call: on this stack up to kStackBytes, in libc's heap beyond; exec
// replaces the process when it succeeds, and a call that returns frees them. (On the stack
// first, because after vfork() the child's heap is its parent's: what an exec there took
// from the heap, the parent would never get back.)
class KernelStrings {
public:
    // cppcheck-suppress uninitMemberVar ; m_stack is scratch space, written before it is read
    KernelStrings() = default;
    ~KernelStrings()
    {
        if (const LibcHeap* heap = libc_heap()) {
            for (std::size_t i = 0; i < m_count; ++i)
                heap->free(m_blocks[i]);
        }
    }
    KernelStrings(const KernelStrings&) = delete;
    KernelStrings& operator=(const KernelStrings&) = delete;

    // Whether copies are needed at all: only while vmemu serves the program's memory.
    static bool needed() { return runtime() != nullptr; }

    const char* string(const char* text)
    {
        if (!text)
            return nullptr;
        std::size_t bytes = std::strlen(text) + 1;
        auto* copy = static_cast<char*>(allocate(bytes));
        if (!copy)
            return text;
        std::memcpy(copy, text, bytes);
        return copy;
    }

    // A NULL-terminated array of strings, the array and the strings in one block, with the
    // extra strings (up to the first nullptr of them) after the others.
    char* const* vector(char* const* strings, const char* const* extra = nullptr)
    {
        if (!strings)
            return nullptr;
        void* block = allocate(packed_vector_bytes(strings, extra));
        return block ? pack_vector(block, strings, extra) : strings;
    }

    // The environment of a new program image: envp, and when the image replaces this very
    // process (not a child of fork() or vfork()), the statistics and trace files and the named
    // swap file, which the shim took out of the environment at start (runtime.cpp) and which
    // the new image takes over.
    char* const* environment(char* const* envp)
    {
        Runtime* state = runtime();
        const char* extra[4] {};
        std::size_t count = 0;
        if (state && state->pid == getpid()) {
            if (state->settings.stats)
                extra[count++] = setting("VMEMU_STATS=", state->settings.stats);
            if (state->settings.trace)
                extra[count++] = setting("VMEMU_TRACE=", state->settings.trace);
            if (state->settings.swap_path)
                extra[count++] = setting("VMEMU_SWAP=", state->settings.swap_path);
        }
        return vector(envp, extra);
    }

private:
    const char* setting(const char* name, const char* value)
    {
        std::size_t name_length = std::strlen(name);
        std::size_t value_length = std::strlen(value) + 1;
        auto* text = static_cast<char*>(allocate(name_length + value_length));
        if (!text)
            return nullptr;
        std::memcpy(text, name, name_length);
        std::memcpy(text + name_length, value, value_length);
        return text;
    }

    void* allocate(std::size_t bytes)
    {
        std::size_t aligned = (bytes + 15) & ~std::size_t { 15 };
        if (aligned <= kStackBytes - m_stack_used) {
            void* block = m_stack + m_stack_used;
            m_stack_used += aligned;
            return block;
        }
        const LibcHeap* heap = libc_heap();
        if (!heap || m_count == kBlocks)
            return nullptr;
        void* block = heap->malloc(bytes);
        if (block)
            m_blocks[m_count++] = block;
        return block;
    }

    static constexpr std::size_t kBlocks = 7;
    static constexpr std::size_t kStackBytes = 32 * 1024;
    void* m_blocks[kBlocks] {};
    std::size_t m_count { 0 };
    alignas(16) char m_stack[kStackBytes];
    std::size_t m_stack_used { 0 };
};

template<typename Function>
Function next(const char* name)
{
    static Function function = next_symbol<Function>(name);
    return function;
}

// execl*(): the variadic arguments up to the null pointer, as an argv array: on the stack for
// up to kStackArgs of them, in libc's heap beyond.
class VariadicArgs {
public:
    VariadicArgs(const char* first, va_list list)
    {
        std::size_t count = 1;
        va_list counting;
        va_copy(counting, list);
        while (va_arg(counting, const char*))
            ++count;
        va_end(counting);
        m_argv = m_stack;
        if (count + 1 > kStackArgs) {
            const LibcHeap* heap = libc_heap();
            m_argv = m_heap = heap ? static_cast<const char**>(heap->malloc((count + 1) * sizeof(char*))) : nullptr;
            if (!m_argv)
                return; // argv() is nullptr: the call fails with ENOMEM
        }
        m_argv[0] = first;
        for (std::size_t i = 1; i < count; ++i)
            m_argv[i] = va_arg(list, const char*);
        m_argv[count] = nullptr;
    }
    ~VariadicArgs()
    {
        if (m_heap)
            libc_heap()->free(m_heap);
    }
    VariadicArgs(const VariadicArgs&) = delete;
    VariadicArgs& operator=(const VariadicArgs&) = delete;

    // nullptr when there was no memory for the array.
    char* const* argv() const { return const_cast<char* const*>(m_argv); }
    // The argument after the null pointer, for execle()'s envp.
    static char* const* envp_after(va_list list)
    {
        while (va_arg(list, const char*)) { }
        return va_arg(list, char* const*);
    }

private:
    static constexpr std::size_t kStackArgs = 256;
    const char* m_stack[kStackArgs];
    const char** m_heap { nullptr };
    const char** m_argv { nullptr };
};

// An exec that could not even build its argv fails as the kernel fails without memory.
int no_memory()
{
    errno = ENOMEM;
    return -1;
}

// Whether the NULL-terminated arrays a and b hold the same strings.
bool same_strings(char* const* a, char* const* b)
{
    for (; *a && *b; ++a, ++b) {
        if (std::strcmp(*a, *b) != 0)
            return false;
    }
    return !*a && !*b;
}

// system() and popen() run "sh -c command" through posix_spawn() inside libc, with environ
// as it is. environ and its strings are rarely in emulated memory (libc's setenv() allocates
// from libc's heap; putenv() of a string of the program's puts one there): only then is it
// swapped for a copy, which is kept for as long as environ holds the same strings (setenv()
// and a changed putenv() string change them in place) and never freed, since another thread
// may be reading it through getenv().
class ScopedEnvironCopy {
public:
    ScopedEnvironCopy()
        : m_saved(environ)
    {
        bool emulated = in_emulated_memory(environ);
        for (char** entry = environ; entry && *entry && !emulated; ++entry)
            emulated = in_emulated_memory(*entry);
        if (!emulated)
            return;
        static char** s_copy = nullptr;
        if (!s_copy || !same_strings(s_copy, environ)) {
            const LibcHeap* heap = libc_heap();
            void* block = heap ? heap->malloc(packed_vector_bytes(environ, nullptr)) : nullptr;
            if (!block)
                return;
            s_copy = pack_vector(block, environ, nullptr);
        }
        environ = s_copy;
    }
    ~ScopedEnvironCopy() { environ = m_saved; }
    ScopedEnvironCopy(const ScopedEnvironCopy&) = delete;
    ScopedEnvironCopy& operator=(const ScopedEnvironCopy&) = delete;

private:
    char** m_saved;
};

} // namespace
} // namespace vmemu::preload

using vmemu::preload::KernelStrings;
using vmemu::preload::VariadicArgs;
using vmemu::preload::ScopedEnvironCopy;
using vmemu::preload::next;

extern "C" {

int execve(const char* path, char* const argv[], char* const envp[])
{
    static auto real = next<int (*)(const char*, char* const*, char* const*)>("execve");
    if (!KernelStrings::needed())
        return real(path, argv, envp);
    KernelStrings copies;
    return real(copies.string(path), copies.vector(argv), copies.environment(envp));
}

int execvpe(const char* file, char* const argv[], char* const envp[])
{
    static auto real = next<int (*)(const char*, char* const*, char* const*)>("execvpe");
    if (!KernelStrings::needed())
        return real(file, argv, envp);
    KernelStrings copies;
    return real(copies.string(file), copies.vector(argv), copies.environment(envp));
}

int execveat(int dirfd, const char* path, char* const argv[], char* const envp[], int flags)
{
    static auto real = next<int (*)(int, const char*, char* const*, char* const*, int)>("execveat");
    if (!KernelStrings::needed())
        return real(dirfd, path, argv, envp, flags);
    KernelStrings copies;
    return real(dirfd, copies.string(path), copies.vector(argv), copies.environment(envp), flags);
}

int fexecve(int fd, char* const argv[], char* const envp[])
{
    static auto real = next<int (*)(int, char* const*, char* const*)>("fexecve");
    if (!KernelStrings::needed())
        return real(fd, argv, envp);
    KernelStrings copies;
    return real(fd, copies.vector(argv), copies.environment(envp));
}

int execv(const char* path, char* const argv[]) { return execve(path, argv, environ); }
int execvp(const char* file, char* const argv[]) { return execvpe(file, argv, environ); }

int execl(const char* path, const char* arg, ...)
{
    va_list list;
    va_start(list, arg);
    VariadicArgs args(arg, list);
    va_end(list);
    if (!args.argv())
        return vmemu::preload::no_memory();
    return execve(path, args.argv(), environ);
}

int execlp(const char* file, const char* arg, ...)
{
    va_list list;
    va_start(list, arg);
    VariadicArgs args(arg, list);
    va_end(list);
    if (!args.argv())
        return vmemu::preload::no_memory();
    return execvpe(file, args.argv(), environ);
}

int execle(const char* path, const char* arg, ...)
{
    va_list list;
    va_start(list, arg);
    VariadicArgs args(arg, list);
    va_end(list);
    va_start(list, arg);
    char* const* envp = VariadicArgs::envp_after(list);
    va_end(list);
    if (!args.argv())
        return vmemu::preload::no_memory();
    return execve(path, args.argv(), envp);
}

int posix_spawn(pid_t* pid, const char* path, const posix_spawn_file_actions_t* actions,
    const posix_spawnattr_t* attributes, char* const argv[], char* const envp[])
{
    static auto real = next<int (*)(pid_t*, const char*, const posix_spawn_file_actions_t*, const posix_spawnattr_t*,
        char* const*, char* const*)>("posix_spawn");
    if (!KernelStrings::needed())
        return real(pid, path, actions, attributes, argv, envp);
    KernelStrings copies;
    return real(pid, copies.string(path), actions, attributes, copies.vector(argv), copies.vector(envp));
}

int posix_spawnp(pid_t* pid, const char* file, const posix_spawn_file_actions_t* actions,
    const posix_spawnattr_t* attributes, char* const argv[], char* const envp[])
{
    static auto real = next<int (*)(pid_t*, const char*, const posix_spawn_file_actions_t*, const posix_spawnattr_t*,
        char* const*, char* const*)>("posix_spawnp");
    if (!KernelStrings::needed())
        return real(pid, file, actions, attributes, argv, envp);
    KernelStrings copies;
    return real(pid, copies.string(file), actions, attributes, copies.vector(argv), copies.vector(envp));
}

int system(const char* command)
{
    static auto real = next<int (*)(const char*)>("system");
    if (!KernelStrings::needed())
        return real(command);
    KernelStrings copies;
    ScopedEnvironCopy environment;
    return real(copies.string(command));
}

FILE* popen(const char* command, const char* mode)
{
    static auto real = next<FILE* (*)(const char*, const char*)>("popen");
    if (!KernelStrings::needed())
        return real(command, mode);
    KernelStrings copies;
    ScopedEnvironCopy environment;
    return real(copies.string(command), copies.string(mode));
}

} // extern "C"
