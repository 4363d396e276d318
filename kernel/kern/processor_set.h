// Processor sets: the one default set and its ports (kern/processor_set.cc).
#pragma once

// Creates the set's name and control ports; once, at boot, after host_init.
void pset_init();
