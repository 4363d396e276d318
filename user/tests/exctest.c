/* Conformance tests of exceptions as messages (exc.defs), written as any GNU Mach program
   would be: only <mach/...> headers, the MIG stubs (the exc.defs server: exc_server calling
   our catch_exception_raise) and mach_msg. No Mica trap. Every expectation here was checked
   on the real GNU Mach x86_64 (trixie's 1.8+git20250702, tools/gnumach-boot.sh); comments
   marked "GNU Mach:" record behaviour that is easy to get wrong.

   A faulting thread is made with thread_create + thread_set_state (i386_REGS_SEGS_STATE),
   its exception port set with thread_set_special_port before thread_resume. It runs one
   faulting instruction between two labels (fault_site: the instruction's address and the
   next one's are stored in `site` first). The test's main thread is the exception server:
   it receives exception_raise on the exception port and answers through exc_server
   (mach_msg_server_once); catch_exception_raise records what it got and then, as the test
   asks, skips the instruction (thread_set_state: rip = the next one), makes it valid
   (vm_allocate, vm_protect) so that it is retried, or answers a failure. It also sets rbx to
   kMarker so that the faulting thread can tell that its registers were changed.

   Child tasks are made as a fork would make them: task_create(inherit_memory = TRUE), a
   thread in the child running code of the inherited text, on a stack the parent allocated
   before task_create, reporting through a VM_INHERIT_SHARE page. */
#include <mach.h>
#include <mach/exception.h>
#include <mach/mig_errors.h>
#include <mach/notify.h>
#include <mach/task_info.h>
#include <mach/task_special_ports.h>
#include <mach/thread_special_ports.h>
#include <mach/thread_status.h>
#include <mach/vm_inherit.h>
#include <mach/vm_prot.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <test/mach_util.h>
#include <test/test.h>

/* The server side of exc.defs (user/CMakeLists.txt: mach_exc_server). ServerPrefix catch_:
   exc_server calls catch_exception_raise, which this program defines. */
boolean_t exc_server(mach_msg_header_t *request, mach_msg_header_t *reply);
kern_return_t catch_exception_raise(mach_port_t exception_port, mach_port_t thread,
                                    mach_port_t task, integer_t exception, integer_t code,
                                    rpc_long_integer_t subcode);

/* --- The message of exception_raise, as MIG generates it for x86-64 --- */

/* The request: msgh_id 2400, 112 bytes, complex; the kernel sends it with the reply port as
   a send-once right (remote) and the exception port as a send right (local). The two ports
   in the body are send rights (MACH_MSG_TYPE_PORT_SEND, 64 bits: mach_port_name_inlined_t),
   the integers are INTEGER_32 (exception, code, each padded to 8) and INTEGER_64 (subcode:
   rpc_long_integer_t is 64 bits on x86-64). */
typedef struct {
  mach_msg_header_t head;          //   0
  mach_msg_type_t thread_type;     //  32
  mach_port_name_inlined_t thread; //  40
  mach_msg_type_t task_type;       //  48
  mach_port_name_inlined_t task;   //  56
  mach_msg_type_t exception_type;  //  64
  integer_t exception;             //  72
  char exception_pad[4];
  mach_msg_type_t code_type;       //  80
  integer_t code;                  //  88
  char code_pad[4];
  mach_msg_type_t subcode_type;    //  96
  rpc_long_integer_t subcode;      // 104
} exc_request_t;                   // 112
_Static_assert(offsetof(exc_request_t, thread_type) == 32, "layout");
_Static_assert(offsetof(exc_request_t, thread) == 40, "layout");
_Static_assert(offsetof(exc_request_t, task_type) == 48, "layout");
_Static_assert(offsetof(exc_request_t, task) == 56, "layout");
_Static_assert(offsetof(exc_request_t, exception_type) == 64, "layout");
_Static_assert(offsetof(exc_request_t, exception) == 72, "layout");
_Static_assert(offsetof(exc_request_t, code_type) == 80, "layout");
_Static_assert(offsetof(exc_request_t, code) == 88, "layout");
_Static_assert(offsetof(exc_request_t, subcode_type) == 96, "layout");
_Static_assert(offsetof(exc_request_t, subcode) == 104, "layout");
_Static_assert(sizeof(exc_request_t) == 112, "layout");
/* The reply: mig_reply_header_t, msgh_id 2500, 48 bytes: RetCodeType (INTEGER_32) at 32,
   RetCode at 40, 4 bytes of padding. */
_Static_assert(sizeof(mig_reply_header_t) == 48, "layout");
_Static_assert(offsetof(mig_reply_header_t, RetCodeType) == 32, "layout");
_Static_assert(offsetof(mig_reply_header_t, RetCode) == 40, "layout");
enum { kExcRequestId = 2400, kExcReplyId = 2500 };

/* --- Helpers --- */

#define PAGE ((vm_size_t)4096)

/* The host-privileged port: argv[1] of the boot script. */
static mach_port_t host_priv;

static mach_port_t task_exc_port(task_t task) {
  mach_port_t p = MACH_PORT_NULL;
  kern_return_t kr = task_get_special_port(task, TASK_EXCEPTION_PORT, &p);
  return kr == KERN_SUCCESS ? p : (mach_port_t)~0u;
}

static mach_port_t thread_exc_port(thread_t thread) {
  mach_port_t p = MACH_PORT_NULL;
  kern_return_t kr = thread_get_special_port(thread, THREAD_EXCEPTION_PORT, &p);
  return kr == KERN_SUCCESS ? p : (mach_port_t)~0u;
}

/* Our task's exception port as the boot left it (restored after each test that sets it). */
static mach_port_t boot_task_exc_port;

static void restore_task_exc_port(void) {
  task_set_special_port(mach_task_self(), TASK_EXCEPTION_PORT, boot_task_exc_port);
}

/* --- Faulting instructions --- */

enum fault_kind {
  kReadAt,         // movq (arg), %rcx
  kWriteAt,        // movq $kWritten, (arg)
  kCallAt,         // call *arg (a jump to an address that is not mapped)
  kDivZero,        // divq of 7 by 0
  kUd2,            // ud2
  kCli,            // cli
  kHlt,            // hlt
  kInt3,           // int3
  kSyscall,        // syscall with rax = arg
};

/* Where the faulting instruction is (pc) and the next one (resume), written by the faulting
   thread just before it runs the instruction. */
static struct {
  volatile uint64_t pc, resume;
} site;

static const long kMarker = 0x5ca1ab1e;         // rbx, as the handler sets it
static const long kWritten = 0x77;              // what kWriteAt stores
static const uint64_t kPageValue = 0xfeedf00du; // what a retrying handler leaves in the page

/* Stores the addresses of labels 1 and 2 in site, then runs insn between them. r11 is the
   scratch register (every caller lists it as clobbered). */
#define FAULT_SITE(insn)                                                                    \
  "lea 1f(%%rip), %%r11\n\t"                                                                \
  "mov %%r11, %[pc]\n\t"                                                                    \
  "lea 2f(%%rip), %%r11\n\t"                                                                \
  "mov %%r11, %[resume]\n\t"                                                                \
  "1: " insn "\n"                                                                           \
  "2:\n\t"
#define SITE_OUT [pc] "=m"(site.pc), [resume] "=m"(site.resume)

struct fault_result {
  long marker;  // rbx after the instruction
  long value;   // what the instruction read or computed (rcx or rax)
};

static struct fault_result do_fault(enum fault_kind kind, long arg) {
  long rbx = 0, val = 0;
  switch (kind) {
  case kReadAt:
    __asm__ volatile(FAULT_SITE("movq (%[a]), %%rcx")
                     : SITE_OUT, "+b"(rbx), "=c"(val)
                     : [a] "a"(arg)
                     : "r11", "memory");
    break;
  case kWriteAt:
    __asm__ volatile(FAULT_SITE("movq $0x77, (%[a])")
                     : SITE_OUT, "+b"(rbx)
                     : [a] "a"(arg)
                     : "r11", "memory");
    break;
  case kCallAt:
    // The handler resumes at label 2 and pops the return address the call pushed.
    __asm__ volatile(FAULT_SITE("call *%[a]")
                     : SITE_OUT, "+b"(rbx)
                     : [a] "a"(arg)
                     : "r11", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "memory");
    break;
  case kDivZero: {
    long rdx = 0;
    val = 7;
    __asm__ volatile(FAULT_SITE("divq %%rcx")
                     : SITE_OUT, "+b"(rbx), "+a"(val), "+d"(rdx)
                     : "c"(0L)
                     : "r11", "memory");
    break;
  }
  case kUd2:
    __asm__ volatile(FAULT_SITE("ud2") : SITE_OUT, "+b"(rbx) : : "r11", "memory");
    break;
  case kCli:
    __asm__ volatile(FAULT_SITE("cli") : SITE_OUT, "+b"(rbx) : : "r11", "memory");
    break;
  case kHlt:
    __asm__ volatile(FAULT_SITE("hlt") : SITE_OUT, "+b"(rbx) : : "r11", "memory");
    break;
  case kInt3:
    __asm__ volatile(FAULT_SITE("int3") : SITE_OUT, "+b"(rbx) : : "r11", "memory");
    break;
  case kSyscall:
    val = arg;
    __asm__ volatile(FAULT_SITE("syscall")
                     : SITE_OUT, "+b"(rbx), "+a"(val)
                     :
                     : "r11", "rcx", "memory");
    break;
  }
  return (struct fault_result){rbx, val};
}

/* --- The faulting thread --- */

static struct {
  enum fault_kind kind;
  long arg;
  int times;                    // how many times the thread runs the instruction (1 or more)
  struct fault_result result;   // of the last time
  long markers;                 // how many times rbx came back as kMarker
  volatile int started, done;
} run;

static void fault_thread(long arg) {
  (void)arg;
  __atomic_store_n(&run.started, 1, __ATOMIC_RELEASE);
  for (int i = 0; i < run.times; i++) {
    run.result = do_fault(run.kind, run.arg);
    run.markers += run.result.marker == kMarker;
  }
  __atomic_store_n(&run.done, 1, __ATOMIC_RELEASE);
  thread_exit();
}

/* A thread of task running fn(arg) on the stack [stack, stack + size) of that task
   (create_thread_in), its exception port set to exc_port if it is not MACH_PORT_NULL before
   thread_resume. */
static thread_t start_thread_exc(task_t task, void (*fn)(long), long arg, vm_address_t stack,
                                 vm_size_t size, mach_port_t exc_port) {
  thread_t thread = create_thread_in(task, fn, arg, stack, size);
  if (thread == MACH_PORT_NULL)
    return MACH_PORT_NULL;
  kern_return_t kr = KERN_SUCCESS;
  if (exc_port != MACH_PORT_NULL)
    kr = thread_set_special_port(thread, THREAD_EXCEPTION_PORT, exc_port);
  if (kr == KERN_SUCCESS)
    kr = thread_resume(thread);
  if (kr != KERN_SUCCESS) {
    test_fail(__FILE__, __LINE__, "start_thread_exc: 0x%x", kr);
    return MACH_PORT_NULL;
  }
  return thread;
}

/* Starts a thread of our task that runs do_fault(kind, arg) `times` times (stacks are never
   freed). */
static thread_t start_faulter_n(enum fault_kind kind, long arg, int times,
                                mach_port_t exc_port) {
  memset(&run, 0, sizeof run);
  memset((void *)&site, 0, sizeof site);
  run.kind = kind;
  run.arg = arg;
  run.times = times;
  vm_address_t stack = alloc(kThreadStack);
  return stack == 0 ? MACH_PORT_NULL
                    : start_thread_exc(mach_task_self(), fault_thread, 0, stack, kThreadStack,
                                       exc_port);
}

static thread_t start_faulter(enum fault_kind kind, long arg, mach_port_t exc_port) {
  return start_faulter_n(kind, arg, 1, exc_port);
}

/* --- The handler --- */

enum action {
  kSkip,     // rip = site.resume (and rsp += 8 after kCallAt), rbx = kMarker: success
  kKeep,     // rbx = kMarker, rip unchanged: success
  kAlloc,    // vm_allocate the page of subcode in the task, write kPageValue there: success
  kProtect,  // vm_protect the page of subcode read/write: success
  kFail,     // answer handler.fail_kr, touch nothing
};

static struct {
  enum action action;
  kern_return_t fail_kr;
} handler;

/* What catch_exception_raise saw, one entry per call. */
struct seen {
  mach_port_t port, thread, task;
  integer_t exception, code;
  rpc_long_integer_t subcode;
  mach_port_type_t thread_type, task_type;
  long thread_refs, task_refs;  // user references of the send rights, in the handler
  kern_return_t get_kr, set_kr;
  struct i386_thread_state state;  // the faulting thread's registers, as the handler found them
};
enum { kMaxSeen = 4 };
static struct seen seen[kMaxSeen];
static int nseen;

static void reset_seen(void) {
  memset(seen, 0, sizeof seen);
  nseen = 0;
}

kern_return_t catch_exception_raise(mach_port_t exception_port, mach_port_t thread,
                                    mach_port_t task, integer_t exception, integer_t code,
                                    rpc_long_integer_t subcode) {
  struct seen *s = &seen[nseen < kMaxSeen ? nseen : kMaxSeen - 1];
  nseen++;
  s->port = exception_port;
  s->thread = thread;
  s->task = task;
  s->exception = exception;
  s->code = code;
  s->subcode = subcode;
  s->thread_type = ptype(thread);
  s->task_type = ptype(task);
  s->thread_refs = urefs(thread, MACH_PORT_RIGHT_SEND);
  s->task_refs = urefs(task, MACH_PORT_RIGHT_SEND);
  mach_msg_type_number_t count = i386_THREAD_STATE_COUNT;
  s->get_kr = thread_get_state(thread, i386_REGS_SEGS_STATE, (thread_state_t)&s->state, &count);
  if (handler.action == kFail)
    return handler.fail_kr;  // the server loop destroys the request, and the rights with it

  struct i386_thread_state st = s->state;
  vm_address_t page = (vm_address_t)subcode & ~(PAGE - 1);
  st.rbx = kMarker;
  switch (handler.action) {
  case kSkip:
    if (run.kind == kCallAt)
      st.ursp += 8;
    st.rip = site.resume;
    break;
  case kAlloc:
    if (vm_allocate(task, &page, PAGE, FALSE) == KERN_SUCCESS && task == mach_task_self())
      *(volatile uint64_t *)(uintptr_t)subcode = kPageValue;
    break;
  case kProtect:
    vm_protect(task, page, PAGE, FALSE, VM_PROT_READ | VM_PROT_WRITE);
    break;
  default:
    break;
  }
  s->set_kr = thread_set_state(thread, i386_REGS_SEGS_STATE, (thread_state_t)&st,
                               i386_THREAD_STATE_COUNT);
  // Success: the rights are ours to release.
  mach_port_deallocate(mach_task_self(), thread);
  mach_port_deallocate(mach_task_self(), task);
  return KERN_SUCCESS;
}

/* Serves one exception_raise on port (waiting at most ms milliseconds). */
static mach_msg_return_t serve_timeout(mach_port_t port, mach_msg_timeout_t ms) {
  return mach_msg_server_once(exc_server, 0, port, MACH_RCV_TIMEOUT, ms);
}

static mach_msg_return_t serve(mach_port_t port) { return serve_timeout(port, 5000); }

/* The exception that the faulting thread `thread` of our task raised, as seen[i]: the port,
   the rights (send rights under the names we hold for the thread and our task, one more
   user reference each while the handler has them) and exception, code, subcode. */
static void expect_seen(int i, mach_port_t port, thread_t thread, long thread_refs_before,
                        long task_refs_before, integer_t exception, integer_t code,
                        rpc_long_integer_t subcode) {
  ASSERT(nseen > i);
  const struct seen *s = &seen[i];
  EXPECT_EQ(s->port, port);
  EXPECT_EQ(s->thread, thread);
  EXPECT_EQ(s->task, mach_task_self());
  EXPECT_EQ(s->thread_type, MACH_PORT_TYPE_SEND);
  EXPECT_EQ(s->task_type, MACH_PORT_TYPE_SEND);
  EXPECT_EQ(s->thread_refs, thread_refs_before + 1);
  EXPECT_EQ(s->task_refs, task_refs_before + 1);
  EXPECT_EQ(s->exception, exception);
  EXPECT_EQ(s->code, code);
  EXPECT_EQ(s->subcode, subcode);
  EXPECT_EQ(s->get_kr, KERN_SUCCESS);
}

/* One fault in a thread of our task whose thread exception port is a fresh port, served
   once with `action`. Checks the exception, that the thread went on (with rbx = kMarker)
   and that the handler's rights were released. Returns the thread's result. */
static struct fault_result fault_once(enum fault_kind kind, long arg, enum action action,
                                      integer_t exception, integer_t code,
                                      rpc_long_integer_t subcode, uint64_t *rip_out) {
  struct fault_result none = {0, 0};
  mach_port_t port = receive_and_send();
  reset_seen();
  handler.action = action;
  long task_refs = urefs(mach_task_self(), MACH_PORT_RIGHT_SEND);
  thread_t thread = start_faulter(kind, arg, port);
  if (thread == MACH_PORT_NULL)
    return none;
  long thread_refs = urefs(thread, MACH_PORT_RIGHT_SEND);
  mach_msg_return_t mr = serve(port);
  EXPECT_EQ(mr, MACH_MSG_SUCCESS);
  if (mr != MACH_MSG_SUCCESS) {
    thread_terminate(thread);
    mach_port_deallocate(mach_task_self(), thread);
    destroy(port);
    return none;
  }
  expect_seen(0, port, thread, thread_refs, task_refs, exception, code, subcode);
  EXPECT_EQ(seen[0].set_kr, KERN_SUCCESS);
  if (rip_out)
    *rip_out = seen[0].state.rip;
  EXPECT(WAIT_UNTIL(__atomic_load_n(&run.done, __ATOMIC_ACQUIRE), 5000));
  EXPECT_EQ(run.result.marker, kMarker);
  EXPECT_EQ(nseen, 1);
  // The handler released the rights it got: we are back to our own references.
  EXPECT_EQ(urefs(mach_task_self(), MACH_PORT_RIGHT_SEND), task_refs);
  mach_port_deallocate(mach_task_self(), thread);
  destroy(port);
  return run.result;
}

/* --- Exception ports --- */

TEST(boot_state_of_exception_ports) {
  // GNU Mach: the bootstrap task has no task exception port, and a new thread has no thread
  // exception port (it does not inherit one).
  boot_task_exc_port = task_exc_port(mach_task_self());
  EXPECT_EQ(boot_task_exc_port, MACH_PORT_NULL);
  thread_t t = MACH_PORT_NULL;
  KR_OK(thread_create(mach_task_self(), &t));
  EXPECT_EQ(thread_exc_port(t), MACH_PORT_NULL);
  mach_port_t p = receive_and_send();
  KR_OK(thread_set_special_port(t, THREAD_EXCEPTION_PORT, p));
  EXPECT_EQ(thread_exc_port(t), p);
  EXPECT_EQ(urefs(p, MACH_PORT_RIGHT_SEND), 2);  // ours + the one get_special_port gave
  mach_port_deallocate(mach_task_self(), p);
  KR_OK(thread_set_special_port(t, THREAD_EXCEPTION_PORT, MACH_PORT_NULL));
  EXPECT_EQ(thread_exc_port(t), MACH_PORT_NULL);
  KR_OK(thread_terminate(t));
  mach_port_deallocate(mach_task_self(), t);
  destroy(p);
}

TEST(task_exception_port_set_and_get) {
  mach_port_t p = receive_and_send();
  KR_OK(task_set_special_port(mach_task_self(), TASK_EXCEPTION_PORT, p));
  EXPECT_EQ(task_exc_port(mach_task_self()), p);
  mach_port_deallocate(mach_task_self(), p);
  restore_task_exc_port();
  EXPECT_EQ(task_exc_port(mach_task_self()), boot_task_exc_port);
  destroy(p);
}

/* --- The message --- */

/* The request as the kernel sends it, received with a plain mach_msg and answered by hand
   with a reply built as MIG builds it. */
static union {
  exc_request_t req;
  char buf[512];
} raw;

/* The 8 bytes at offset off of the message. */
static uint64_t word_at(const void *msg, size_t off) {
  uint64_t w;
  memcpy(&w, (const char *)msg + off, sizeof w);
  return w;
}

TEST(message_layout) {
  mach_port_t port = receive_and_send();
  long task_refs = urefs(mach_task_self(), MACH_PORT_RIGHT_SEND);
  thread_t thread = start_faulter(kWriteAt, 0, port);
  ASSERT(thread != MACH_PORT_NULL);
  memset(&raw, 0, sizeof raw);
  mach_msg_return_t mr = mach_msg(&raw.req.head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0,
                                  sizeof raw, port, 5000, MACH_PORT_NULL);
  ASSERT_EQ(mr, MACH_MSG_SUCCESS);
  const exc_request_t *m = &raw.req;
  printf("exception_raise request: bits 0x%x size %u remote %u local %u seqno %u id %d\n",
         m->head.msgh_bits, m->head.msgh_size, m->head.msgh_remote_port,
         m->head.msgh_local_port, m->head.msgh_seqno, m->head.msgh_id);
  for (size_t off = 32; off < 112; off += 16)
    printf("  +%3zu: %016lx %016lx\n", off, (unsigned long)word_at(m, off),
           (unsigned long)word_at(m, off + 8));
  EXPECT_EQ(m->head.msgh_bits, MACH_MSGH_BITS_COMPLEX |
                                   MACH_MSGH_BITS(MACH_MSG_TYPE_PORT_SEND_ONCE,
                                                  MACH_MSG_TYPE_PORT_SEND));
  EXPECT_EQ(m->head.msgh_size, 112);
  EXPECT_EQ(m->head.msgh_id, kExcRequestId);
  EXPECT_EQ(m->head.msgh_local_port, port);
  EXPECT_EQ(ptype(m->head.msgh_remote_port), MACH_PORT_TYPE_SEND_ONCE);
  // The type words: name 8 bits, size 16, unused 5, inline, longform, deallocate; then
  // msgt_number (32 bits).
  EXPECT_EQ(word_at(m, offsetof(exc_request_t, thread_type)), 0x0000000120004011ull);  // PORT_SEND, 64
  EXPECT_EQ(word_at(m, offsetof(exc_request_t, task_type)), 0x0000000120004011ull);
  EXPECT_EQ(word_at(m, offsetof(exc_request_t, exception_type)), 0x0000000120002002ull);  // INTEGER_32
  EXPECT_EQ(word_at(m, offsetof(exc_request_t, code_type)), 0x0000000120002002ull);
  EXPECT_EQ(word_at(m, offsetof(exc_request_t, subcode_type)), 0x000000012000400bull);  // INTEGER_64
  EXPECT_EQ(m->thread.name, thread);
  EXPECT_EQ(m->task.name, mach_task_self());
  EXPECT_EQ(m->exception, EXC_BAD_ACCESS);
  EXPECT_EQ(m->code, KERN_INVALID_ADDRESS);
  EXPECT_EQ(m->subcode, 0);
  // GNU Mach: the upper half of the name words is 0; the pads are whatever the kernel
  // had there (not checked).
  EXPECT_EQ(word_at(m, 40) >> 32, 0);
  EXPECT_EQ(word_at(m, 56) >> 32, 0);

  // Skip the instruction, then answer as MIG's server would.
  struct i386_thread_state st;
  mach_msg_type_number_t count = i386_THREAD_STATE_COUNT;
  KR_OK(thread_get_state(thread, i386_REGS_SEGS_STATE, (thread_state_t)&st, &count));
  EXPECT_EQ(st.rip, site.pc);
  st.rip = site.resume;
  st.rbx = kMarker;
  KR_OK(thread_set_state(thread, i386_REGS_SEGS_STATE, (thread_state_t)&st,
                         i386_THREAD_STATE_COUNT));
  mach_port_deallocate(mach_task_self(), m->thread.name);
  mach_port_deallocate(mach_task_self(), m->task.name);
  mig_reply_header_t reply;
  memset(&reply, 0, sizeof reply);
  reply.Head.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0);
  reply.Head.msgh_size = sizeof reply;
  reply.Head.msgh_remote_port = m->head.msgh_remote_port;
  reply.Head.msgh_id = kExcReplyId;
  reply.RetCodeType.msgt_name = MACH_MSG_TYPE_INTEGER_32;
  reply.RetCodeType.msgt_size = 32;
  reply.RetCodeType.msgt_number = 1;
  reply.RetCodeType.msgt_inline = TRUE;
  reply.RetCode = KERN_SUCCESS;
  KR_OK(mach_msg(&reply.Head, MACH_SEND_MSG, sizeof reply, 0, MACH_PORT_NULL, 0,
                 MACH_PORT_NULL));
  EXPECT(WAIT_UNTIL(__atomic_load_n(&run.done, __ATOMIC_ACQUIRE), 5000));
  EXPECT_EQ(run.result.marker, kMarker);
  EXPECT_EQ(urefs(mach_task_self(), MACH_PORT_RIGHT_SEND), task_refs);
  mach_port_deallocate(mach_task_self(), thread);
  destroy(port);
}

/* --- Bad access --- */

TEST(null_read_retried_after_vm_allocate) {
  // The handler maps page 0 and writes kPageValue at the address: the read is retried and
  // finds it.
  uint64_t rip = 0;
  struct fault_result r = fault_once(kReadAt, 0, kAlloc, EXC_BAD_ACCESS, KERN_INVALID_ADDRESS,
                                     0, &rip);
  EXPECT_EQ(rip, site.pc);
  EXPECT_EQ((uint64_t)r.value, kPageValue);
  vm_deallocate(mach_task_self(), 0, PAGE);
}

TEST(null_write_skipped) {
  // The subcode is the address itself, not its page.
  uint64_t rip = 0;
  fault_once(kWriteAt, 0x18, kSkip, EXC_BAD_ACCESS, KERN_INVALID_ADDRESS, 0x18, &rip);
  EXPECT_EQ(rip, site.pc);
}

TEST(write_to_read_only_page) {
  vm_address_t a = alloc(PAGE);
  ASSERT(a != 0);
  *(volatile long *)a = 1;
  KR_OK(vm_protect(mach_task_self(), a, PAGE, FALSE, VM_PROT_READ));
  // The handler makes the page writable again: the write is retried and lands.
  uint64_t rip = 0;
  fault_once(kWriteAt, (long)(a + 0x40), kProtect, EXC_BAD_ACCESS, KERN_PROTECTION_FAILURE,
             (long)(a + 0x40), &rip);
  EXPECT_EQ(rip, site.pc);
  EXPECT_EQ(*(volatile long *)(a + 0x40), kWritten);
  vm_deallocate(mach_task_self(), a, PAGE);
}

TEST(read_of_unmapped_user_address) {
  // High in the user space (it ends at 0x800000000000; GNU Mach puts the bootstrap task's
  // stack at its very top, so the top page is mapped): a page that vm_region says is free.
  const long addr = 0x00007f0000000008l;
  vm_address_t r = (vm_address_t)addr, size = 0;
  vm_prot_t prot, max;
  vm_inherit_t inh;
  boolean_t shared;
  mach_port_t obj = MACH_PORT_NULL;
  vm_offset_t off;
  kern_return_t kr = vm_region(mach_task_self(), &r, &size, &prot, &max, &inh, &shared, &obj,
                               &off);
  ASSERT(kr == KERN_NO_SPACE || (kr == KERN_SUCCESS && r > (vm_address_t)addr));
  if (MACH_PORT_VALID(obj))
    mach_port_deallocate(mach_task_self(), obj);
  fault_once(kReadAt, addr, kSkip, EXC_BAD_ACCESS, KERN_INVALID_ADDRESS, addr, NULL);
}

TEST(read_of_kernel_address) {
  // GNU Mach: a page fault at or above the kernel's linear space is not given to vm_fault;
  // the code is EXC_I386_PGFLT (14), not a kern_return_t.
  const long addr = (long)0xffffffff80001000ul;
  fault_once(kReadAt, addr, kSkip, EXC_BAD_ACCESS, EXC_I386_PGFLT, addr, NULL);
}

TEST(read_of_non_canonical_address) {
  // GNU Mach: a non-canonical address is a general protection fault, not a page fault:
  // EXC_BAD_INSTRUCTION, EXC_I386_GPFLT, subcode the error code (0).
  fault_once(kReadAt, 0x0000800000000000l, kSkip, EXC_BAD_INSTRUCTION, EXC_I386_GPFLT, 0,
             NULL);
}

TEST(jump_to_null) {
  // call *0: the fetch faults at rip 0; the handler pops the return address and resumes.
  uint64_t rip = 1;
  fault_once(kCallAt, 0, kSkip, EXC_BAD_ACCESS, KERN_INVALID_ADDRESS, 0, &rip);
  EXPECT_EQ(rip, 0);
}

/* --- Arithmetic and instructions --- */

TEST(divide_by_zero) {
  uint64_t rip = 0;
  fault_once(kDivZero, 0, kSkip, EXC_ARITHMETIC, EXC_I386_DIV, 0, &rip);
  EXPECT_EQ(rip, site.pc);
}

TEST(invalid_opcode_ud2) {
  uint64_t rip = 0;
  fault_once(kUd2, 0, kSkip, EXC_BAD_INSTRUCTION, EXC_I386_INVOP, 0, &rip);
  EXPECT_EQ(rip, site.pc);
}

TEST(privileged_cli) {
  // GNU Mach: a general protection fault, EXC_BAD_INSTRUCTION / EXC_I386_GPFLT (13), the
  // subcode is the error code (0).
  uint64_t rip = 0;
  fault_once(kCli, 0, kSkip, EXC_BAD_INSTRUCTION, EXC_I386_GPFLT, 0, &rip);
  EXPECT_EQ(rip, site.pc);
}

TEST(privileged_hlt) {
  uint64_t rip = 0;
  fault_once(kHlt, 0, kSkip, EXC_BAD_INSTRUCTION, EXC_I386_GPFLT, 0, &rip);
  EXPECT_EQ(rip, site.pc);
}

TEST(breakpoint_int3) {
  // A trap, not a fault: rip is already past the int3, so the handler changes nothing but
  // rbx and the thread goes on.
  uint64_t rip = 0;
  fault_once(kInt3, 0, kKeep, EXC_BREAKPOINT, EXC_I386_BPT, 0, &rip);
  EXPECT_EQ(rip, site.resume);
}

/* A trap that raises no exception: the thread goes on, rax holding what the trap returned. */
static void expect_trap_returns(long nr, long rax) {
  mach_port_t port = receive_and_send();
  reset_seen();
  handler.action = kSkip;
  thread_t thread = start_faulter(kSyscall, nr, port);
  ASSERT(thread != MACH_PORT_NULL);
  EXPECT(WAIT_UNTIL(__atomic_load_n(&run.done, __ATOMIC_ACQUIRE), 2000));
  EXPECT_EQ(serve_timeout(port, 0), MACH_RCV_TIMED_OUT);
  EXPECT_EQ(nseen, 0);
  EXPECT_EQ(run.result.value, rax);
  EXPECT_EQ(run.result.marker, 0);
  mach_port_deallocate(mach_task_self(), thread);
  destroy(port);
}

TEST(unknown_trap_minus_7) {
  // GNU Mach: -0 to -129 are all in its trap table (mach_trap_count 130), the unused ones
  // (-7 among them: the Unix range -0 to -9) as kern_invalid. Such a trap raises no
  // exception: it returns KERN_INVALID_ARGUMENT (4) in rax.
  expect_trap_returns(-7, KERN_INVALID_ARGUMENT);
  expect_trap_returns(0, KERN_INVALID_ARGUMENT);
  expect_trap_returns(-129, KERN_INVALID_ARGUMENT);
  // GNU Mach: only eax counts (negl %eax): 0x1_0000_0000 - 7 and -0x1_0000_0000 - 7 are -7.
  expect_trap_returns(0x100000000l - 7, KERN_INVALID_ARGUMENT);
  expect_trap_returns(-0x100000000l - 7, KERN_INVALID_ARGUMENT);
}

TEST(trap_out_of_range) {
  // GNU Mach: a trap number outside the table (positive in eax, or below -130) raises
  // EXC_BAD_INSTRUCTION, EXC_I386_INVOP, subcode 0; rip is already past the syscall, rax
  // still holds the number. (-130 itself is one past the end of the table and GNU Mach's
  // bound check, jg, lets it through: it ran whatever follows the table and raised
  // EXC_BAD_ACCESS, KERN_INVALID_ADDRESS, subcode 0x8006b7f98. Not tested.)
  static const long numbers[] = {1, -131, -1000, 0x7fffffff};
  for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
    uint64_t rip = 0;
    struct fault_result r = fault_once(kSyscall, numbers[i], kKeep, EXC_BAD_INSTRUCTION,
                                       EXC_I386_INVOP, 0, &rip);
    EXPECT_EQ(rip, site.resume);
    EXPECT_EQ(r.value, numbers[i]);
  }
}

/* --- Thread and task exception ports --- */

TEST(task_port_used_when_thread_has_none) {
  mach_port_t tport = receive_and_send();
  KR_OK(task_set_special_port(mach_task_self(), TASK_EXCEPTION_PORT, tport));
  reset_seen();
  handler.action = kSkip;
  long task_refs = urefs(mach_task_self(), MACH_PORT_RIGHT_SEND);
  thread_t thread = start_faulter(kWriteAt, 0, MACH_PORT_NULL);
  if (thread != MACH_PORT_NULL) {
    long thread_refs = urefs(thread, MACH_PORT_RIGHT_SEND);
    EXPECT_EQ(serve(tport), MACH_MSG_SUCCESS);
    expect_seen(0, tport, thread, thread_refs, task_refs, EXC_BAD_ACCESS,
                KERN_INVALID_ADDRESS, 0);
    EXPECT(WAIT_UNTIL(__atomic_load_n(&run.done, __ATOMIC_ACQUIRE), 5000));
    EXPECT_EQ(run.result.marker, kMarker);
    mach_port_deallocate(mach_task_self(), thread);
  }
  restore_task_exc_port();
  destroy(tport);
}

TEST(thread_port_preferred_over_task_port) {
  mach_port_t tport = receive_and_send(), thport = receive_and_send();
  KR_OK(task_set_special_port(mach_task_self(), TASK_EXCEPTION_PORT, tport));
  reset_seen();
  handler.action = kSkip;
  thread_t thread = start_faulter(kUd2, 0, thport);
  if (thread != MACH_PORT_NULL) {
    EXPECT_EQ(serve(thport), MACH_MSG_SUCCESS);
    EXPECT_EQ(nseen, 1);
    EXPECT_EQ(seen[0].port, thport);
    EXPECT_EQ(seen[0].exception, EXC_BAD_INSTRUCTION);
    EXPECT(WAIT_UNTIL(__atomic_load_n(&run.done, __ATOMIC_ACQUIRE), 5000));
    EXPECT_EQ(run.result.marker, kMarker);
    // Nothing came to the task's port.
    EXPECT_EQ(serve_timeout(tport, 0), MACH_RCV_TIMED_OUT);
    mach_port_deallocate(mach_task_self(), thread);
  }
  restore_task_exc_port();
  destroy(tport);
  destroy(thport);
}

TEST(thread_handler_failure_falls_back_to_task_port) {
  // GNU Mach: when the thread's handler answers a failure, the same exception is raised
  // again on the task's port; only when that one fails too is the task terminated.
  mach_port_t tport = receive_and_send(), thport = receive_and_send();
  KR_OK(task_set_special_port(mach_task_self(), TASK_EXCEPTION_PORT, tport));
  reset_seen();
  thread_t thread = start_faulter(kWriteAt, 0x20, thport);
  if (thread != MACH_PORT_NULL) {
    handler.action = kFail;
    handler.fail_kr = KERN_FAILURE;
    EXPECT_EQ(serve(thport), MACH_MSG_SUCCESS);
    handler.action = kSkip;
    EXPECT_EQ(serve(tport), MACH_MSG_SUCCESS);
    ASSERT_EQ(nseen, 2);
    EXPECT_EQ(seen[0].port, thport);
    EXPECT_EQ(seen[1].port, tport);
    for (int i = 0; i < 2; i++) {
      EXPECT_EQ(seen[i].thread, thread);
      EXPECT_EQ(seen[i].task, mach_task_self());
      EXPECT_EQ(seen[i].exception, EXC_BAD_ACCESS);
      EXPECT_EQ(seen[i].code, KERN_INVALID_ADDRESS);
      EXPECT_EQ(seen[i].subcode, 0x20);
    }
    EXPECT(WAIT_UNTIL(__atomic_load_n(&run.done, __ATOMIC_ACQUIRE), 5000));
    EXPECT_EQ(run.result.marker, kMarker);
    mach_port_deallocate(mach_task_self(), thread);
  }
  restore_task_exc_port();
  destroy(tport);
  destroy(thport);
}

/* Receives an exception_raise on port by hand into raw (5 s at most). */
static mach_msg_return_t receive_raw(mach_port_t port) {
  memset(&raw, 0, sizeof raw);
  return mach_msg(&raw.req.head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof raw, port, 5000,
                  MACH_PORT_NULL);
}

/* A fault whose thread-port handler does not answer properly (bad_answer gets the request in
   raw); then the task's port must get the same exception, and the thread goes on when that
   handler skips the instruction. */
static void expect_fallback_after(void (*bad_answer)(void)) {
  mach_port_t tport = receive_and_send(), thport = receive_and_send();
  KR_OK(task_set_special_port(mach_task_self(), TASK_EXCEPTION_PORT, tport));
  reset_seen();
  thread_t thread = start_faulter(kWriteAt, 0x28, thport);
  if (thread != MACH_PORT_NULL) {
    EXPECT_EQ(receive_raw(thport), MACH_MSG_SUCCESS);
    EXPECT_EQ(raw.req.head.msgh_id, kExcRequestId);
    bad_answer();
    handler.action = kSkip;
    EXPECT_EQ(serve(tport), MACH_MSG_SUCCESS);
    EXPECT_EQ(nseen, 1);
    EXPECT_EQ(seen[0].port, tport);
    EXPECT_EQ(seen[0].thread, thread);
    EXPECT_EQ(seen[0].exception, EXC_BAD_ACCESS);
    EXPECT_EQ(seen[0].code, KERN_INVALID_ADDRESS);
    EXPECT_EQ(seen[0].subcode, 0x28);
    EXPECT(WAIT_UNTIL(__atomic_load_n(&run.done, __ATOMIC_ACQUIRE), 5000));
    EXPECT_EQ(run.result.marker, kMarker);
    mach_port_deallocate(mach_task_self(), thread);
  }
  restore_task_exc_port();
  destroy(tport);
  destroy(thport);
}

/* A reply with a wrong msgh_id (2501): GNU Mach takes it as MIG_REPLY_MISMATCH, a failure. */
static void answer_wrong_id(void) {
  mig_reply_header_t reply;
  memset(&reply, 0, sizeof reply);
  reply.Head.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0);
  reply.Head.msgh_size = sizeof reply;
  reply.Head.msgh_remote_port = raw.req.head.msgh_remote_port;
  reply.Head.msgh_id = kExcReplyId + 1;
  reply.RetCodeType.msgt_name = MACH_MSG_TYPE_INTEGER_32;
  reply.RetCodeType.msgt_size = 32;
  reply.RetCodeType.msgt_number = 1;
  reply.RetCodeType.msgt_inline = TRUE;
  reply.RetCode = KERN_SUCCESS;
  EXPECT_EQ(mach_msg(&reply.Head, MACH_SEND_MSG, sizeof reply, 0, MACH_PORT_NULL, 0,
                     MACH_PORT_NULL),
            MACH_MSG_SUCCESS);
  mach_port_deallocate(mach_task_self(), raw.req.thread.name);
  mach_port_deallocate(mach_task_self(), raw.req.task.name);
}

/* No answer at all: the request is destroyed, its reply right with it (the kernel's reply
   port gets a send-once notification, not a reply). */
static void answer_nothing(void) { mach_msg_destroy(&raw.req.head); }

TEST(wrong_reply_id_falls_back_to_task_port) {
  expect_fallback_after(answer_wrong_id);
}

TEST(destroyed_request_falls_back_to_task_port) {
  expect_fallback_after(answer_nothing);
}

TEST(same_thread_faults_three_times) {
  // One thread runs int3 three times: three exception_raise, one after each reply.
  mach_port_t port = receive_and_send();
  reset_seen();
  handler.action = kKeep;
  thread_t thread = start_faulter_n(kInt3, 0, 3, port);
  ASSERT(thread != MACH_PORT_NULL);
  for (int i = 0; i < 3; i++)
    EXPECT_EQ(serve(port), MACH_MSG_SUCCESS);
  EXPECT_EQ(nseen, 3);
  for (int i = 0; i < 3 && i < nseen; i++) {
    EXPECT_EQ(seen[i].thread, thread);
    EXPECT_EQ(seen[i].exception, EXC_BREAKPOINT);
    EXPECT_EQ(seen[i].state.rip, site.resume);
  }
  EXPECT(WAIT_UNTIL(__atomic_load_n(&run.done, __ATOMIC_ACQUIRE), 5000));
  EXPECT_EQ(run.markers, 3);
  EXPECT_EQ(serve_timeout(port, 0), MACH_RCV_TIMED_OUT);
  mach_port_deallocate(mach_task_self(), thread);
  destroy(port);
}

/* --- Child tasks --- */

struct child_report {
  volatile int started, survived;
};
enum { kChildStack = 64 * 1024 };

/* 0, read at run time (a constant null store would be undefined behaviour to the compiler). */
static volatile uintptr_t null_address;

/* Runs in the child: a null write (no MIG call before it: the child's cached names are
   still the parent's). */
static void child_fault(long arg) {
  struct child_report *r = (struct child_report *)arg;
  r->started = 1;
  *(volatile long *)null_address = 1;
  r->survived = 1;
  child_idle();
}

/* A child task (inherited memory) with a shared report page and a thread running
   child_fault, its exception port (task level) set to exc_port if not null. A dead-name
   notification for the child's task port goes to *notify. */
struct child {
  task_t task;
  thread_t thread;
  struct child_report *report;
  mach_port_t notify;
  mach_port_t exc_port;  // the child's task exception port before its thread started
};

static bool start_child(struct child *c, mach_port_t exc_port) {
  memset(c, 0, sizeof *c);
  vm_address_t shared = alloc(PAGE);
  vm_address_t stack = alloc(kChildStack);
  if (shared == 0 || stack == 0)
    return false;
  if (vm_inherit(mach_task_self(), shared, PAGE, VM_INHERIT_SHARE) != KERN_SUCCESS)
    return false;
  c->report = (struct child_report *)shared;
  if (task_create(mach_task_self(), TRUE, &c->task) != KERN_SUCCESS)
    return false;
  if (exc_port != MACH_PORT_NULL &&
      task_set_special_port(c->task, TASK_EXCEPTION_PORT, exc_port) != KERN_SUCCESS)
    return false;
  c->exc_port = task_exc_port(c->task);
  if (MACH_PORT_VALID(c->exc_port))
    mach_port_deallocate(mach_task_self(), c->exc_port);
  mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &c->notify);
  mach_port_t prev = MACH_PORT_NULL;
  kern_return_t kr = mach_port_request_notification(
      mach_task_self(), c->task, MACH_NOTIFY_DEAD_NAME, 0, c->notify,
      MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev);
  if (kr != KERN_SUCCESS) {
    test_fail(__FILE__, __LINE__, "dead-name request: 0x%x", kr);
    return false;
  }
  c->thread = start_thread_in(c->task, child_fault, (long)shared, stack, kChildStack);
  vm_deallocate(mach_task_self(), stack, kChildStack);
  return c->thread != MACH_PORT_NULL;
}

/* Waits for the dead-name notification of the child's task port: the task is gone. */
static void expect_child_died(struct child *c) {
  union {
    mach_dead_name_notification_t n;
    char buf[256];
  } m;
  memset(&m, 0, sizeof m);
  mach_msg_return_t mr = mach_msg(&m.n.not_header, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0,
                                  sizeof m, c->notify, 5000, MACH_PORT_NULL);
  EXPECT_EQ(mr, MACH_MSG_SUCCESS);
  if (mr == MACH_MSG_SUCCESS) {
    EXPECT_EQ(m.n.not_header.msgh_id, MACH_NOTIFY_DEAD_NAME);
    EXPECT_EQ(m.n.not_port, c->task);
  }
  EXPECT_EQ(ptype(c->task), MACH_PORT_TYPE_DEAD_NAME);
  struct task_basic_info info;
  mach_msg_type_number_t count = TASK_BASIC_INFO_COUNT;
  EXPECT_EQ(task_info(c->task, TASK_BASIC_INFO, (task_info_t)&info, &count),
            MACH_SEND_INVALID_DEST);
  EXPECT_EQ(c->report->started, 1);
  EXPECT_EQ(c->report->survived, 0);
}

static void end_child(struct child *c) {
  if (ptype(c->task) != MACH_PORT_TYPE_DEAD_NAME && MACH_PORT_VALID(c->task))
    task_terminate(c->task);
  destroy(c->task);
  destroy(c->thread);
  destroy(c->notify);
  vm_deallocate(mach_task_self(), (vm_address_t)c->report, PAGE);
}

TEST(child_inherits_task_exception_port) {
  // GNU Mach: task_create gives the child a copy of the parent's task exception port.
  mach_port_t p = receive_and_send();
  KR_OK(task_set_special_port(mach_task_self(), TASK_EXCEPTION_PORT, p));
  task_t child = MACH_PORT_NULL;
  kern_return_t kr = task_create(mach_task_self(), TRUE, &child);
  restore_task_exc_port();
  ASSERT_EQ(kr, KERN_SUCCESS);
  EXPECT_EQ(task_exc_port(child), p);
  mach_port_deallocate(mach_task_self(), p);
  KR_OK(task_terminate(child));
  mach_port_deallocate(mach_task_self(), child);
  destroy(p);
}

TEST(child_handler_failure_terminates_task) {
  // The child's exception goes to its task port (ours to receive); the handler answers
  // KERN_FAILURE, so the kernel terminates the child.
  mach_port_t port = receive_and_send();
  struct child c;
  bool ok = start_child(&c, port);
  EXPECT(ok);
  if (ok) {
    EXPECT_EQ(c.exc_port, port);
    reset_seen();
    handler.action = kFail;
    handler.fail_kr = KERN_FAILURE;
    EXPECT_EQ(serve(port), MACH_MSG_SUCCESS);
    EXPECT_EQ(nseen, 1);
    EXPECT_EQ(seen[0].port, port);
    EXPECT_EQ(seen[0].thread, c.thread);
    EXPECT_EQ(seen[0].task, c.task);
    EXPECT_EQ(seen[0].thread_type, MACH_PORT_TYPE_SEND);
    // The name of the child's task port carries our dead-name request.
    EXPECT_EQ(seen[0].task_type, MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_DNREQUEST);
    EXPECT_EQ(seen[0].exception, EXC_BAD_ACCESS);
    EXPECT_EQ(seen[0].code, KERN_INVALID_ADDRESS);
    EXPECT_EQ(seen[0].subcode, 0);
    expect_child_died(&c);
  }
  end_child(&c);
  destroy(port);
}

TEST(child_without_exception_port_dies_alone) {
  // No thread or task exception port anywhere: the kernel terminates the child task; we
  // (the parent) go on.
  struct child c;
  bool ok = start_child(&c, MACH_PORT_NULL);
  EXPECT(ok);
  if (ok) {
    EXPECT_EQ(c.exc_port, MACH_PORT_NULL);
    expect_child_died(&c);
  }
  end_child(&c);
}

int main(int argc, char **argv) {
  if (argc > 1)
    host_priv = (mach_port_t)strtoul(argv[1], NULL, 10);
  return test_main(argc, argv);
}
