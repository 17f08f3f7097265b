"""Linux signal numbers and how CPU faults map onto them."""

from __future__ import annotations

import enum


class Sig(enum.IntEnum):
    SIGHUP = 1
    SIGINT = 2
    SIGQUIT = 3
    SIGILL = 4
    SIGTRAP = 5
    SIGABRT = 6
    SIGBUS = 7
    SIGFPE = 8
    SIGKILL = 9
    SIGUSR1 = 10
    SIGSEGV = 11
    SIGUSR2 = 12
    SIGPIPE = 13
    SIGALRM = 14
    SIGTERM = 15
    SIGSTKFLT = 16
    SIGCHLD = 17
    SIGCONT = 18
    SIGSTOP = 19
    SIGTSTP = 20
    SIGTTIN = 21
    SIGTTOU = 22
    SIGURG = 23
    SIGXCPU = 24
    SIGXFSZ = 25
    SIGVTALRM = 26
    SIGPROF = 27
    SIGWINCH = 28
    SIGIO = 29
    SIGPWR = 30
    SIGSYS = 31


NSIG = 64

# Default action "ignore"; every other signal without a handler terminates the process.
DEFAULT_IGNORE = {Sig.SIGCHLD, Sig.SIGURG, Sig.SIGWINCH, Sig.SIGCONT}
DEFAULT_STOP = {Sig.SIGSTOP, Sig.SIGTSTP, Sig.SIGTTIN, Sig.SIGTTOU}

# CPU exception vector -> signal delivered to the guest.
EXCEPTION_SIGNAL = {
    0: Sig.SIGFPE,  # #DE divide error
    1: Sig.SIGTRAP,  # #DB
    3: Sig.SIGTRAP,  # int3
    4: Sig.SIGSEGV,  # #OF
    5: Sig.SIGSEGV,  # #BR
    6: Sig.SIGILL,  # #UD
    7: Sig.SIGFPE,  # #NM
    8: Sig.SIGSEGV,  # #DF
    10: Sig.SIGSEGV,
    11: Sig.SIGBUS,
    12: Sig.SIGBUS,  # stack segment
    13: Sig.SIGSEGV,  # #GP
    14: Sig.SIGSEGV,  # #PF
    16: Sig.SIGFPE,  # x87
    17: Sig.SIGBUS,  # alignment check
    19: Sig.SIGFPE,  # SIMD
}


def signal_name(sig: int) -> str:
    try:
        return Sig(sig).name
    except ValueError:
        return f"SIGRT_{sig - 32}" if 32 <= sig <= NSIG else str(sig)
