#include "kern/processor.h"

Processor processors[kMaxCpus];
