// Boot modules become tasks, as GNU Mach's boot script has it: a module whose command line
// holds '$(task-create)' is loaded as a static ELF64 program into a new task, '${host-port}'
// and '${device-port}' in its arguments become the names of those rights in the task, and
// '$(task-resume)' starts it.
#include "kern/bootstrap.h"

#include "kern/host.h"
#include "kern/ipc_tt.h"
#include "kern/log.h"
#include "lib/format.h"
#include "kern/sched.h"
#include "kern/syscall.h"
#include "kern/task.h"
#include "lib/string.h"
#include "machine/pmap.h"
#include "vm/vm_map.h"
#include "vm/vm_user.h"
#include "vm/vm_usercopy.h"

namespace {

struct Elf64Header {
  unsigned char ident[16];
  uint16_t type, machine;
  uint32_t version;
  uint64_t entry, phoff, shoff;
  uint32_t flags;
  uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};
struct Elf64Phdr {
  uint32_t type, flags;
  uint64_t offset, vaddr, paddr, filesz, memsz, align;
};

constexpr uint64_t kStackTop = 0x00007ffffff00000;
constexpr uint64_t kStackPages = 32;

struct Args {
  char host_name[12] = "0";
  char device_name[12] = "0";
  char bootstrap_name[12] = "0";
  bool bootstrap_server = false;
  static constexpr unsigned kMax = 16;
  char storage[512];
  const char* argv[kMax];
  unsigned argc = 0;
  bool create = false, resume = false;
};

// Splits the module command line into words, removing single quotes and expanding the boot
// script's variables.
void parse_cmdline(const char* s, Args& a) {
  size_t used = 0;
  while (*s) {
    while (*s == ' ') ++s;
    if (!*s) break;
    char word[128];
    size_t n = 0;
    bool quoted = false;
    for (; *s && (quoted || *s != ' '); ++s) {
      if (*s == '\'') {
        quoted = !quoted;
        continue;
      }
      if (n < sizeof word - 1) word[n++] = *s;
    }
    word[n] = 0;
    const char* value = word;
    if (!strcmp(word, "$(task-create)")) {
      a.create = true;
      continue;
    }
    if (!strcmp(word, "$(task-resume)")) {
      a.resume = true;
      continue;
    }
    if (!strcmp(word, "$(bootstrap-server)")) {
      a.bootstrap_server = true;
      continue;
    }
    if (!strcmp(word, "${bootstrap-port}")) value = a.bootstrap_name;
    if (!strcmp(word, "${host-port}")) value = a.host_name;
    if (!strcmp(word, "${device-port}")) value = a.device_name;
    size_t len = strlen(value) + 1;
    if (a.argc == Args::kMax || used + len > sizeof a.storage) break;
    memcpy(a.storage + used, value, len);
    a.argv[a.argc++] = a.storage + used;
    used += len;
  }
}

// The last path component: GRUB passes the name given in grub.cfg, QEMU the file path.
const char* base_name(const char* path) {
  const char* b = path;
  for (const char* p = path; *p; ++p)
    if (*p == '/') b = p + 1;
  return b;
}

// Maps each PT_LOAD segment as anonymous memory, copies the file's bytes in (the rest is
// zero fill), then lowers the protection to the segment's. Text and data of a static program
// share no page in practice; if two segments do, the page gets the union of their rights.
bool load_elf(Task* task, const uint8_t* image, size_t size, uint64_t* entry) {
  if (size < sizeof(Elf64Header)) return false;
  auto* eh = reinterpret_cast<const Elf64Header*>(image);
  if (memcmp(eh->ident, "\x7f" "ELF", 4) || eh->ident[4] != 2 || eh->machine != 62 ||
      eh->phentsize != sizeof(Elf64Phdr) || eh->phoff + eh->phnum * sizeof(Elf64Phdr) > size)
    return false;
  auto* ph = reinterpret_cast<const Elf64Phdr*>(image + eh->phoff);
  for (unsigned i = 0; i < eh->phnum; ++i) {
    const Elf64Phdr& p = ph[i];
    if (p.type != 1 || p.memsz == 0) continue;  // PT_LOAD only
    if (p.offset + p.filesz > size || p.filesz > p.memsz || p.vaddr < kUserMin ||
        p.vaddr >= kUserEnd || p.memsz > kUserEnd - p.vaddr)
      return false;
    uint64_t start = trunc_page(p.vaddr), end = round_page(p.vaddr + p.memsz);
    // Pages already mapped by an earlier segment are left as they are.
    for (uint64_t va = start; va < end; va += kPageSize) {
      vaddr_t at = va;
      kern_return_t kr = vm_allocate(task->map, &at, kPageSize, false);
      if (kr != KERN_SUCCESS && kr != KERN_NO_SPACE) return false;
    }
    if (!map_copyout(task->map, image + p.offset, p.vaddr, p.filesz)) return false;
    vm_prot_t prot = VM_PROT_READ;
    if (p.flags & 2) prot |= VM_PROT_WRITE;
    if (p.flags & 1) prot |= VM_PROT_EXECUTE;
    if (vm_protect(task->map, start, end - start, false, prot) != KERN_SUCCESS) return false;
  }
  *entry = eh->entry;
  return true;
}

// Builds the initial stack: argc, argv[], NULL, envp (empty), NULL, then the strings.
bool build_stack(Task* task, const Args& a, uint64_t* rsp) {
  vaddr_t stack = kStackTop - kStackPages * kPageSize;
  if (vm_allocate(task->map, &stack, kStackPages * kPageSize, false) != KERN_SUCCESS)
    return false;
  uint64_t strings = kStackTop;
  uint64_t ptrs[Args::kMax];
  for (unsigned i = 0; i < a.argc; ++i) {
    size_t len = strlen(a.argv[i]) + 1;
    strings -= len;
    ptrs[i] = strings;
  }
  uint64_t sp = (strings - 8 * (a.argc + 3)) & ~15ull;
  uint64_t words[Args::kMax + 3];
  unsigned n = 0;
  words[n++] = a.argc;
  for (unsigned i = 0; i < a.argc; ++i) words[n++] = ptrs[i];
  words[n++] = 0;  // end of argv
  words[n++] = 0;  // empty environment
  // The task is not running: copy through its pmap and the direct map.
  for (unsigned i = 0; i < a.argc; ++i)
    if (!task_copyout(task, a.argv[i], ptrs[i], strlen(a.argv[i]) + 1)) return false;
  if (!task_copyout(task, words, sp, n * 8)) return false;
  *rsp = sp;
  return true;
}

}  // namespace

bool task_copyout(Task* task, const void* src, uint64_t dst, size_t len) {
  return map_copyout(task->map, src, dst, len);
}

unsigned bootstrap_start_modules(const BootInfo& info) {
  unsigned started = 0;
  Port* bootstrap_port = ipc_port_create_kernel_held();
  for (unsigned m = 0; m < info.module_count; ++m) {
    const BootModule& mod = info.modules[m];
    Args a;
    parse_cmdline(mod.cmdline, a);  // first pass: is it a task, and its name
    if (!a.create || a.argc == 0) {
      klog("module %u (%s): no $(task-create), kept as data", m, mod.cmdline);
      continue;
    }
    const char* name = base_name(a.argv[0]);
    Task* task = task_create(name);
    uint64_t entry = 0, rsp = 0;
    if (task) {
      // The privileged host port and the device master port, the task's first two names
      // (1 and 2, as on GNU Mach), replace ${host-port} and ${device-port}.
      snprintf_k(a.host_name, sizeof a.host_name, "%u",
                 ipc_task_insert_send(task, host_port(true)));
      snprintf_k(a.device_name, sizeof a.device_name, "%u",
                 ipc_task_insert_send(task, device_master_port()));
      // Mica's boot-script extension for a name server (include/mica/bootstrap.defs): every
      // boot task's bootstrap port is one port; the module marked $(bootstrap-server) holds
      // its receive right, named by ${bootstrap-port} in its arguments.
      ipc_task_set_bootstrap(task, bootstrap_port);
      if (a.bootstrap_server)
        snprintf_k(a.bootstrap_name, sizeof a.bootstrap_name, "%u",
                   ipc_task_insert_receive(task, bootstrap_port));
      a.argc = 0;
      parse_cmdline(mod.cmdline, a);
    }
    if (!task || !load_elf(task, static_cast<const uint8_t*>(arch_phys_to_virt(mod.start)),
                           mod.end - mod.start, &entry) ||
        !build_stack(task, a, &rsp)) {
      klog("module %s: not a loadable static ELF64 program", name);
      if (task) task_terminate_internal(task);
      continue;
    }
    Thread* t = user_thread_create(task, entry, rsp, 0);
    if (!t) {
      task_terminate_internal(task);
      continue;
    }
    klog("task %s: %lu KiB mapped, entry %lx%s", name, task->map->size >> 10, entry,
         a.resume ? "" : " (not resumed)");
    if (a.resume) thread_start(t);
    ++started;
  }
  ipc_port_release_kernel_held(bootstrap_port);  // dies unless a server took it
  return started;
}
