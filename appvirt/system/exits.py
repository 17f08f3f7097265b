"""VM exit reasons and their counters: what sent the guest back to the hypervisor, and how often.

One reason per kind of event, as a hardware hypervisor reports them; ``--stats`` prints the table
and docs/system-vm.md compares the profiles of the three techniques.
"""

from __future__ import annotations

import enum
from collections import Counter


class Exit(enum.Enum):
    PORT_IO = "port I/O"
    HLT = "HLT"
    CPUID = "CPUID"
    MSR = "MSR"
    HYPERCALL = "hypercall"
    SENSITIVE = "privileged/sensitive instruction"
    EXCEPTION = "exception"
    SOFTWARE_INTERRUPT = "software interrupt (int n)"
    INTERRUPT_WINDOW = "interrupt window"
    MMIO = "MMIO"
    UNMAPPED = "unmapped guest-physical access"
    CODE_SCAN = "code page scan (bt)"
    PAGE_TABLE_WRITE = "guest page-table write (bt)"
    CODE_WRITE = "write to scanned code (bt)"


class ExitCounter:
    """Exits by reason, plus sub-counts (which port, which instruction, which hypercall)."""

    def __init__(self) -> None:
        self.by_reason: Counter[Exit] = Counter()
        self.detail: dict[Exit, Counter[str]] = {}

    def count(self, reason: Exit, detail: str | None = None) -> None:
        self.by_reason[reason] += 1
        if detail is not None:
            sub = self.detail.setdefault(reason, Counter())
            if detail in sub or len(sub) < 256:
                sub[detail] += 1

    @property
    def total(self) -> int:
        return sum(self.by_reason.values())

    def as_dict(self) -> dict[str, int]:
        return {r.value: self.by_reason[r] for r in Exit if self.by_reason[r]}
