// The boot CPU's path from the loader to the first user task.
#include "arch/x86_64/apic.h"
#include "arch/x86_64/cpu_local.h"
#include "arch/x86_64/io.h"
#include "arch/x86_64/multiboot.h"
#include "arch/x86_64/pmap_x86.h"
#include "arch/x86_64/selftest.h"
#include "arch/x86_64/serial.h"
#include "arch/x86_64/smp.h"
#include "device/ds_routines.h"
#include "kern/bootstrap.h"
#include "kern/host.h"
#include "kern/processor_set.h"
#include "kern/log.h"
#include "kern/processor.h"
#include "kern/sched.h"
#include "kern/task.h"
#include "kern/sched_pri.h"
#include "kern/thread.h"
#include "vm/vm_page.h"
#include "vm/vm_pageout.h"
#include "vm/vm_pager.h"
#include "vm/vm_resident.h"

namespace {

constinit BootInfo boot_info;

void all_tasks_exited() {
  klog("mica: all tasks exited");
  arch_shutdown(0);
}

// Boot option mica.test_kernel_fault: a kernel null dereference, two calls deep, so that the
// system tests can check the register dump and the symbolized backtrace of a panic.
[[gnu::noinline]] int selftest_fault_read(volatile int* p) { return *p + 1; }
[[gnu::noinline]] int selftest_kernel_fault(int depth) {
  int r = depth ? selftest_kernel_fault(depth - 1) : selftest_fault_read(nullptr);
  asm volatile("" ::: "memory");  // no tail call: keep the frames
  return r + 1;
}

}  // namespace

extern "C" [[noreturn]] void kmain(uint32_t magic, uint32_t info_pa) {
  idt_init();
  cpu_init(0);
  serial_init();
  multiboot_parse(magic, info_pa, boot_info);
  pmap_bootstrap(boot_info.max_phys);
  vm_page_bootstrap(boot_info.ram, boot_info.ram_count);
  vm_resident_bootstrap();
  apic_calibrate();
  VmPageStats ps = vm_page_stats();
  klog("Mica: a Mach microkernel (x86-64); command line \"%s\"", boot_info.cmdline);
  klog("memory: %lu pages free of %lu (%lu MiB)", ps.free_pages, ps.total_pages,
       ps.total_pages * kPageSize >> 20);
  cpu_locals[0].apic_id = apic_id();
  cpu_locals[0].online = true;
  processor_start(0);
  host_init();
  pset_init();
  apic_init_cpu(1'000'000'000 / kTickNs);
  smp_start();
  device_init();
  task_set_all_exited_hook(all_tasks_exited);
  Thread* pager = kernel_thread_create("vm_pager", vm_pager_thread, nullptr, kBasePriSystem);
  if (!pager) panic("no memory for the pager thread");
  thread_start(pager);
  Thread* pageout = kernel_thread_create("vm_pageout", vm_pageout_thread, nullptr, kBasePriSystem);
  if (!pageout) panic("no memory for the pageout daemon");
  thread_start(pageout);
  if (boot_option(boot_info, "mica.test_kernel_fault")) selftest_kernel_fault(2);
  if (boot_option(boot_info, "mica.selftest")) arch_selftest();
  if (bootstrap_start_modules(boot_info) == 0) {
    klog("no boot module to run");
    all_tasks_exited();
  }
  processor_idle_loop();
}
