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
    if (p.offset + p.filesz > size || p.filesz > p.memsz || p.vaddr >= kUserEnd ||
        p.memsz > kUserEnd - p.vaddr)
      return false;
    unsigned prot = kProtRead;
    if (p.flags & 2) prot |= kProtWrite;
    if (p.flags & 1) prot |= kProtExecute;
    for (uint64_t va = trunc_page(p.vaddr); va < p.vaddr + p.memsz; va += kPageSize) {
      paddr_t pa;
      void* kva;
      if (pmap_extract(task->pmap, va, &pa)) {
        // Shared with the previous segment: widen the rights.
        kva = arch_phys_to_virt(pa);
        if (!pmap_enter(task->pmap, va, pa, prot | kProtWrite | kProtExecute)) return false;
      } else if (!task_map_new_page(task, va, prot, &kva)) {
        return false;
      }
      // Copy the part of the file that falls in this page.
      uint64_t lo = va > p.vaddr ? va : p.vaddr;
      uint64_t hi = va + kPageSize < p.vaddr + p.filesz ? va + kPageSize : p.vaddr + p.filesz;
      if (hi > lo) memcpy(static_cast<char*>(kva) + (lo - va), image + p.offset + (lo - p.vaddr), hi - lo);
    }
  }
  *entry = eh->entry;
  return true;
}

// Builds the initial stack: argc, argv[], NULL, envp (empty), NULL, then the strings.
bool build_stack(Task* task, const Args& a, uint64_t* rsp) {
  for (uint64_t i = 1; i <= kStackPages; ++i)
    if (!task_map_new_page(task, kStackTop - i * kPageSize, kProtRead | kProtWrite, nullptr))
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
  auto* s = static_cast<const char*>(src);
  while (len) {
    paddr_t pa;
    if (dst >= kUserEnd || !pmap_extract(task->pmap, dst, &pa)) return false;
    size_t chunk = kPageSize - (dst & (kPageSize - 1));
    if (chunk > len) chunk = len;
    memcpy(arch_phys_to_virt(pa), s, chunk);
    s += chunk;
    dst += chunk;
    len -= chunk;
  }
  return true;
}

unsigned bootstrap_start_modules(const BootInfo& info) {
  unsigned started = 0;
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
    klog("task %s: %lu pages, entry %lx%s", name, task->pages.size(), entry,
         a.resume ? "" : " (not resumed)");
    if (a.resume) thread_start(t);
    ++started;
  }
  return started;
}
