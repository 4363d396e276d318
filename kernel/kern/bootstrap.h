#pragma once
#include <stddef.h>
#include <stdint.h>

#include "kern/boot_info.h"

struct Task;
// Creates (and resumes) a task for every boot module that asks for it; returns how many.
unsigned bootstrap_start_modules(const BootInfo& info);
// Copies into a task's memory that is not the current one.
bool task_copyout(Task* task, const void* src, uint64_t dst, size_t len);
