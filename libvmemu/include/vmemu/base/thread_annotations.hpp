#pragma once
// Clang thread-safety analysis attributes. They expand to nothing on GCC; the clang build with
// -Wthread-safety checks every VM_GUARDED_BY field and every VM_REQUIRES function.

#if defined(__clang__)
#    define VM_THREAD_ANNOTATION(x) __attribute__((x))
#else
#    define VM_THREAD_ANNOTATION(x)
#endif

#define VM_CAPABILITY(name) VM_THREAD_ANNOTATION(capability(name))
#define VM_SCOPED_CAPABILITY VM_THREAD_ANNOTATION(scoped_lockable)
#define VM_GUARDED_BY(lock) VM_THREAD_ANNOTATION(guarded_by(lock))
#define VM_PT_GUARDED_BY(lock) VM_THREAD_ANNOTATION(pt_guarded_by(lock))
#define VM_REQUIRES(...) VM_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define VM_REQUIRES_SHARED(...) VM_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define VM_ACQUIRE(...) VM_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define VM_ACQUIRE_SHARED(...) VM_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define VM_RELEASE(...) VM_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define VM_RELEASE_SHARED(...) VM_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define VM_RELEASE_GENERIC(...) VM_THREAD_ANNOTATION(release_generic_capability(__VA_ARGS__))
#define VM_TRY_ACQUIRE(...) VM_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define VM_EXCLUDES(...) VM_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define VM_NO_THREAD_SAFETY_ANALYSIS VM_THREAD_ANNOTATION(no_thread_safety_analysis)
#define VM_ACQUIRED_AFTER(...) VM_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define VM_RETURN_CAPABILITY(x) VM_THREAD_ANNOTATION(lock_returned(x))
