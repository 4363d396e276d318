// Per-thread machine state on the host: the host tests never switch threads, so the MI
// headers that embed ArchThreadState (kern/thread.h) only need the type to exist.
#pragma once
#include <stdint.h>

struct ArchThreadState {
  uint64_t unused = 0;
};
