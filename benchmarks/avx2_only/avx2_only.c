/* LD_PRELOAD shim: make this process (and its threads) see a CPU without AVX-512, AVX-VNNI or AMX, so a speed
 * figure for an AVX2-only CPU (the AMD EPYCs some of our machines and many users' laptops have) can be taken on a
 * CPU that has more. Run it through benchmarks/avx2_only/run, which builds it.
 *
 * Why: ONNX Runtime, OpenCV, numpy and x264 each choose their kernels by the cpuid instruction, and none of them can
 * be told to stay at AVX2 (ONNX Runtime's MLAS has no such setting). The instruction cannot be intercepted as a
 * library call, but Linux can make it fault. Only the instruction set changes: the cores, caches and clock stay
 * this machine's, so a figure taken here is an AVX2 figure for this microarchitecture, not an AMD EPYC's.
 *
 * It turns on Linux's CPUID faulting (arch_prctl ARCH_SET_CPUID 0, needs the cpuid_fault CPU flag), so every
 * cpuid instruction raises SIGSEGV; the handler runs the real cpuid with faulting briefly off, clears the
 * feature bits of AVX-512, AVX-VNNI and AMX, and steps over the instruction. The setting is per thread and
 * inherited by threads created later; execve resets it (child programs see the real CPU unless they load the
 * shim again). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <asm/prctl.h>
#include <cpuid.h>
#include <dlfcn.h>

static volatile long faults = 0;  /* for AVX2_ONLY_VERBOSE */
/* The SIGSEGV handler the program itself installed (Python's faulthandler, which pytest turns on): it must not
 * replace ours, or the next cpuid would be taken for a crash; real crashes go on to it. */
static struct sigaction program_handler;
static int program_handler_set = 0;
static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);

static void on_segv(int sig, siginfo_t *info, void *context) {
    ucontext_t *uc = (ucontext_t *)context;
    greg_t *regs = uc->uc_mcontext.gregs;
    const unsigned char *ip = (const unsigned char *)regs[REG_RIP];
    (void)info;
    if (ip[0] == 0x0f && ip[1] == 0xa2) {
        unsigned leaf = (unsigned)regs[REG_RAX], sub = (unsigned)regs[REG_RCX];
        unsigned a, b, c, d;
        syscall(SYS_arch_prctl, ARCH_SET_CPUID, 1);
        __cpuid_count(leaf, sub, a, b, c, d);
        syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0);
        /* leaf 7 subleaf 0: EBX AVX512F/DQ/IFMA/PF/ER/CD/BW/VL; ECX AVX512_VBMI/VBMI2/VNNI/BITALG/VPOPCNTDQ;
         * EDX AVX512_4VNNIW/4FMAPS/VP2INTERSECT, AMX-BF16, AVX512_FP16, AMX-TILE, AMX-INT8. Subleaf 1: EAX AVX-VNNI,
         * AVX512_BF16, AVX-IFMA. (Intel SDM vol. 2A, CPUID.) */
        if (leaf == 7 && sub == 0) {
            b &= ~((1u << 16) | (1u << 17) | (1u << 21) | (1u << 26) | (1u << 27) | (1u << 28) | (1u << 30) | (1u << 31));
            c &= ~((1u << 1) | (1u << 6) | (1u << 11) | (1u << 12) | (1u << 14));
            d &= ~((1u << 2) | (1u << 3) | (1u << 8) | (1u << 22) | (1u << 23) | (1u << 24) | (1u << 25));
        } else if (leaf == 7 && sub == 1) {
            a &= ~((1u << 4) | (1u << 5) | (1u << 23));
        }
        regs[REG_RAX] = a; regs[REG_RBX] = b; regs[REG_RCX] = c; regs[REG_RDX] = d;
        regs[REG_RIP] += 2;
        faults++;
        return;
    }
    /* Not a cpuid: a real crash, for the program's own handler, or with the default action (the instruction faults
     * again and the process dies as it would have). */
    if (program_handler_set && (program_handler.sa_flags & SA_SIGINFO) && program_handler.sa_sigaction) {
        program_handler.sa_sigaction(sig, info, context);
        return;
    }
    if (program_handler_set && program_handler.sa_handler != SIG_DFL && program_handler.sa_handler != SIG_IGN) {
        program_handler.sa_handler(sig);
        return;
    }
    struct sigaction default_action;
    memset(&default_action, 0, sizeof default_action);
    default_action.sa_handler = SIG_DFL;
    real_sigaction(sig, &default_action, NULL);
}

/* sigaction and signal for SIGSEGV keep our handler in place and record the program's (see program_handler). */
int sigaction(int sig, const struct sigaction *action, struct sigaction *old) {
    if (!real_sigaction) real_sigaction = (int (*)(int, const struct sigaction *, struct sigaction *))dlsym(RTLD_NEXT, "sigaction");
    if (sig != SIGSEGV) return real_sigaction(sig, action, old);
    if (old) {
        if (program_handler_set) *old = program_handler;
        else { memset(old, 0, sizeof *old); old->sa_handler = SIG_DFL; }
    }
    if (action) { program_handler = *action; program_handler_set = 1; }
    return 0;
}

sighandler_t signal(int sig, sighandler_t handler) {
    struct sigaction action, old;
    memset(&action, 0, sizeof action);
    action.sa_handler = handler;
    action.sa_flags = SA_RESTART;
    if (sigaction(sig, &action, &old) != 0) return SIG_ERR;
    return old.sa_handler;
}

__attribute__((constructor)) static void avx2_only_start(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    real_sigaction = (int (*)(int, const struct sigaction *, struct sigaction *))dlsym(RTLD_NEXT, "sigaction");
    real_sigaction(SIGSEGV, &sa, NULL);
    if (syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0) != 0) {
        perror("avx2_only: this kernel or CPU cannot make cpuid fault (arch_prctl ARCH_SET_CPUID; the cpuid_fault "
               "flag in /proc/cpuinfo)");
        _exit(70);
    }
    if (getenv("AVX2_ONLY_VERBOSE")) fprintf(stderr, "avx2_only: cpuid faulting on, AVX-512/AVX-VNNI/AMX hidden\n");
}

__attribute__((destructor)) static void avx2_only_end(void) {
    if (getenv("AVX2_ONLY_VERBOSE")) fprintf(stderr, "avx2_only: %ld cpuid instructions emulated\n", faults);
}
