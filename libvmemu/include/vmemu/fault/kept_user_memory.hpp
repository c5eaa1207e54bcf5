#pragma once
// System calls after which the kernel goes on using the caller's pages: a pin lasts only as
// long as the call, and once it is gone reclaim may give the frame to another page while the
// kernel still reads or writes it. Each such call is refused the way a kernel without it
// would refuse it, or made as the call that copies instead.
//   io_uring_setup, io_setup   ENOSYS, as by a kernel built without io_uring and AIO
//   SO_ZEROCOPY                EOPNOTSUPP, as for a socket that cannot send in place; without
//                              it the kernel ignores MSG_ZEROCOPY and copies
//   vmsplice into a pipe       writev, which copies what vmsplice would have referenced
//                              (SPLICE_F_NONBLOCK then follows the pipe's own O_NONBLOCK)
// Stateless; safe in a signal handler.

namespace vmemu {

// The errno with which system call nr with arguments args is refused, or 0.
int refused_for_kept_memory(long nr, const long* args) noexcept;

// The call to make in place of nr, with args rewritten for it: nr itself when it keeps no
// memory.
long copying_call(long nr, long* args) noexcept;

} // namespace vmemu
