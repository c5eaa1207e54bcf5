// The cost of one system call under the two mechanisms weighed for the system-call boundary
// (docs/syscall-boundary.md): getppid() 200,000 times natively, under Syscall User Dispatch
// armed with the selector at ALLOW and diverted to a SIGSYS handler that re-issues it, and
// under a seccomp filter (an IP check and three argument checks) allowed and trapped. Not part
// of the build (it installs a seccomp filter it cannot remove):
//   gcc -O2 bench/syscall_trap_probe.c -o /tmp/syscall_trap_probe && /tmp/syscall_trap_probe
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <time.h>
#include <ucontext.h>
#include <stdint.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/audit.h>
#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH 59
#endif
static __thread volatile char sel;
extern char gate_begin[], gate_end[], gate_restorer[];
extern long gate_syscall(long nr, long a, long b, long c, long d, long e, long f);
asm(".pushsection .text.gate,\"ax\",@progbits\n"
    ".globl gate_begin\n gate_begin:\n"
    ".globl gate_syscall\n gate_syscall:\n"
    " mov %rdi,%rax\n mov %rsi,%rdi\n mov %rdx,%rsi\n mov %rcx,%rdx\n mov %r8,%r10\n mov %r9,%r8\n mov 8(%rsp),%r9\n syscall\n ret\n"
    ".globl gate_restorer\n gate_restorer:\n mov $15,%eax\n syscall\n"
    " nop\n.globl gate_end\n gate_end:\n .popsection\n");
static void handler(int s, siginfo_t* i, void* c){
  ucontext_t* u=c; greg_t* g=u->uc_mcontext.gregs;
  g[REG_RAX]=gate_syscall(g[REG_RAX],g[REG_RDI],g[REG_RSI],g[REG_RDX],g[REG_R10],g[REG_R8],g[REG_R9]);
}
struct ksa { void* h; unsigned long flags; void* restorer; uint64_t mask; };
static double now(){struct timespec t; clock_gettime(CLOCK_MONOTONIC,&t); return t.tv_sec+t.tv_nsec*1e-9;}
#define LD(off) BPF_STMT(BPF_LD|BPF_W|BPF_ABS, off)
int main(){
  struct ksa a={handler,SA_SIGINFO|0x04000000|SA_NODEFER,gate_restorer,0};
  syscall(SYS_rt_sigaction,SIGSYS,&a,0,8);
  int n=200000; double t0=now(); for(int i=0;i<n;i++) syscall(SYS_getppid); double t1=now();
  /* Syscall User Dispatch: armed with the selector at ALLOW, then diverted */
  if(prctl(PR_SET_SYSCALL_USER_DISPATCH,1,(unsigned long)gate_begin,(unsigned long)(gate_end-gate_begin),&sel)) perror("prctl");
  double u0=now(); for(int i=0;i<n;i++) syscall(SYS_getppid); double u1=now();
  sel=1;
  double u2=now(); for(int i=0;i<n;i++) syscall(SYS_getppid); double u3=now();
  sel=0;
  prctl(PR_SET_SYSCALL_USER_DISPATCH,0,0,0,0);
  printf("native %.0f ns, SUD armed-allow %.0f ns, SUD diverted %.0f ns\n",(t1-t0)/n*1e9,(u1-u0)/n*1e9,(u3-u2)/n*1e9);
  uint64_t lo=0x100000000000ull; uint32_t hi=lo>>32; /* reservation: high word == 0x1000 */
  uint32_t gate_hi=(uintptr_t)gate_begin>>32, gate_lo=(uintptr_t)gate_begin&0xffffffff;
  struct sock_filter f[]={
    LD(offsetof(struct seccomp_data,instruction_pointer)+4),
    BPF_JUMP(BPF_JMP|BPF_JEQ|BPF_K, gate_hi, 0, 3),
    LD(offsetof(struct seccomp_data,instruction_pointer)),
    BPF_JUMP(BPF_JMP|BPF_JGE|BPF_K, gate_lo, 0, 1),
    BPF_STMT(BPF_RET|BPF_K, SECCOMP_RET_ALLOW),
    LD(offsetof(struct seccomp_data,args[0])+4), BPF_JUMP(BPF_JMP|BPF_JEQ|BPF_K, hi, 5, 0),
    LD(offsetof(struct seccomp_data,args[1])+4), BPF_JUMP(BPF_JMP|BPF_JEQ|BPF_K, hi, 3, 0),
    LD(offsetof(struct seccomp_data,args[2])+4), BPF_JUMP(BPF_JMP|BPF_JEQ|BPF_K, hi, 1, 0),
    BPF_STMT(BPF_RET|BPF_K, SECCOMP_RET_ALLOW),
    BPF_STMT(BPF_RET|BPF_K, SECCOMP_RET_TRAP),
  };
  struct sock_fprog p={sizeof f/sizeof f[0], f};
  prctl(PR_SET_NO_NEW_PRIVS,1,0,0,0);
  if(syscall(SYS_seccomp,SECCOMP_SET_MODE_FILTER,0,&p)) perror("seccomp");
  double t2=now(); for(int i=0;i<n;i++) syscall(SYS_getppid); double t3=now();
  double t4=now(); for(int i=0;i<n;i++) syscall(SYS_getppid, lo+5); double t5=now();
  printf("seccomp filtered-allow %.0f ns, seccomp trapped %.0f ns\n",(t3-t2)/n*1e9,(t5-t4)/n*1e9);
}
