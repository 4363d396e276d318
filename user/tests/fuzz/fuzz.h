/* What the parts of the fuzz (user/tests/fuzztest.c, the driver and its tests) share:
     fuzz/common.c  the PRNG, what the fuzz must not touch, its own memory, its pool of ports
                    and random names, scratch memory, the sweep;
     fuzz/msg.c     part 1, mach_msg (and the random bodies and ids part 3 uses too);
     fuzz/calls.c   part 2, MIG calls and traps, and the child task;
     fuzz/raw.c     part 3, raw messages to the kernel's ports. */
#ifndef MICA_FUZZ_H
#define MICA_FUZZ_H

#include <mach.h>
#include <stdbool.h>
#include <stdint.h>
#include <test/test.h>

/* --- Settings (argv words, fuzztest.c) --- */

extern uint64_t seed;
extern long trace_from;    /* -1: no trace */
extern bool fuzz_children; /* children=1 */

/* --- The PRNG (common.c): each iteration of each test has its own stream, derived from the
   seed, the test and the iteration, so that an iteration draws the same numbers whatever the
   earlier ones drew. --- */

void rng_iteration(int test, long i);
uint64_t rnd64(void);
uint32_t rnd32(void);
/* Uniform in [0, n), n > 0. */
uint32_t rnd(uint32_t n);
/* True with probability pct %. */
bool chance(uint32_t pct);

bool tracing(long i);
#define TRACE(i, ...)      \
  do {                     \
    if (tracing(i)) {      \
      printf(__VA_ARGS__); \
      stdout_flush();      \
    }                      \
  } while (0)

/* --- What the fuzz must not touch (common.c) --- */

extern mach_port_t self_task, self_thread, self_host;

enum { kMaxProtectedNames = 128, kMaxProtectedRanges = 64 };
extern mach_port_t protected_names[kMaxProtectedNames];
extern int n_protected_names;

struct range {
  uint64_t start, end; /* [start, end) */
};
extern struct range protected_ranges[kMaxProtectedRanges];
extern int n_protected_ranges;

bool name_protected(mach_port_t name);
/* Whether the pages of [addr, addr + size), as the kernel rounds them (and wraps them past
   2^64), touch a protected region. */
bool range_protected(uint64_t addr, uint64_t size);
/* The regions of our map, in address order; returns how many (at most max are stored). */
int map_regions(struct range *out, int max);

/* --- The fuzz's own memory (common.c) ---
   The arena, protected from random VM calls but a legitimate target for message buffers:
     pages [0, kTouched): read-write, touched (message buffers)
     page kTouched: a hole (unmapped)
     pages kTouched + 1, + 2: read-write, never touched (the kernel faults them in)
     page kTouched + 3: read-only
     page kTouched + 4: a hole (so nothing of ours follows the arena directly)
   The playground: addresses nobody maps but the fuzz's VM calls. */
enum { kTouched = 32, kArenaPages = kTouched + 5 };
extern uint8_t *arena;
extern uint64_t arena_writable_end; /* end of the read-only page: nothing of ours beyond */
#define PLAYGROUND 0x300000000000ull
#define PLAYGROUND_SIZE (1ull << 22)
#define KERNEL_HALF 0xffff800000000000ull

void make_arena(void);

/* --- A pool of ports the fuzz owns, and random names (common.c) --- */

enum { kPool = 12 };
extern mach_port_t pool[kPool];
/* The one port besides the kernel's that messages carrying receive rights go to. */
extern mach_port_t sink;
/* The child task of fuzz_kernel_calls, if any; rand_name never gives it out. */
extern mach_port_t child_task;

/* Gives every empty or lost pool slot a new right of a random kind. */
void pool_refill(void);
/* A pool port we hold the receive right of (or MACH_PORT_NULL). */
mach_port_t pool_receiver(void);
/* A random name that is not protected: mostly the pool, sometimes null, dead, or a number. */
mach_port_t rand_name(void);
/* A random disposition: mostly a valid one, sometimes 0 or garbage. */
mach_msg_type_name_t rand_disp(void);

/* --- Scratch memory for out-of-line data: fresh each iteration, the fuzz's to lose
   (common.c) --- */

enum { kScratchPages = 3 };
vm_address_t get_scratch(void);
void drop_scratch(void);

/* Destroys every name that is not protected and deallocates every region (or part of one)
   that is not protected (common.c). */
void sweep(void);

/* --- The parts --- */

/* Random type descriptors and data from b to end; returns the end of what was written
   (msg.c). */
uint8_t *random_body(uint8_t *b, uint8_t *end, bool allow_receive);
/* Whether a message id would make the kernel act on our own task or thread in a way the
   fuzz cannot survive or undo (msg.c). */
bool id_harmful_to_self(mach_msg_id_t id);
/* A msgh_id: a routine of mach.defs, mach_host.defs or mach_port.defs, a reply id, a
   notification, or anything (msg.c). */
mach_msg_id_t rand_id(void);

/* One iteration of each fuzz test. */
void fuzz_one_msg(long i);  /* msg.c */
void fuzz_one_call(long i); /* calls.c */
void fuzz_one_raw(long i);  /* raw.c */

/* Terminates the child task, if any, and drops its name (calls.c). */
void end_child(void);

#endif
