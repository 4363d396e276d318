// Spinlocks. A SpinLock is taken only through a guard: IrqSpinGuard when the lock may also
// be taken from an interrupt handler (it disables interrupts on this CPU first), SpinGuard
// when interrupts are known to be off already. Lock order is documented in docs/design.md.
#pragma once
#include <stdint.h>

#include "kern/assert.h"
#include "machine/cpu.h"

// A ticket lock: a CPU that wants the lock takes the next ticket and spins until that ticket
// is served, so CPUs get the lock in the order they asked for it. With a test-and-set lock, a
// thread that takes a lock again right after letting it go (the pageout daemon, page after
// page of one object) kept a faulting thread on the other CPU spinning for seconds: a
// spinning QEMU CPU looks at the lock too seldom to find it free.
class SpinLock {
 public:
  constexpr SpinLock() = default;
  SpinLock(const SpinLock&) = delete;
  SpinLock& operator=(const SpinLock&) = delete;

  void lock() {
    uint16_t ticket = __atomic_fetch_add(&next_, 1, __ATOMIC_RELAXED);
    while (__atomic_load_n(&serving_, __ATOMIC_ACQUIRE) != ticket) arch_cpu_relax();
  }
  // Takes the lock only if it is free and nobody waits for it.
  bool try_lock() {
    uint16_t free_ticket = __atomic_load_n(&serving_, __ATOMIC_ACQUIRE);
    uint16_t expected = free_ticket;
    return __atomic_compare_exchange_n(&next_, &expected, static_cast<uint16_t>(free_ticket + 1),
                                       false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
  }
  // Only the holder writes serving_.
  void unlock() {
    uint16_t next = static_cast<uint16_t>(__atomic_load_n(&serving_, __ATOMIC_RELAXED) + 1);
    __atomic_store_n(&serving_, next, __ATOMIC_RELEASE);
  }
  // Makes the lock free, whoever holds it or waits for it: only for panic, when another CPU
  // may have stopped holding it. (An unlock would not do: it serves a ticket nobody took.)
  void reset() {
    __atomic_store_n(&serving_, __atomic_load_n(&next_, __ATOMIC_RELAXED), __ATOMIC_RELEASE);
  }
  bool is_locked() const {
    uint16_t next = __atomic_load_n(&next_, __ATOMIC_RELAXED);
    return next != __atomic_load_n(&serving_, __ATOMIC_RELAXED);
  }

 private:
  uint16_t serving_ = 0;  // the ticket that holds the lock, or the next one if it is free
  uint16_t next_ = 0;     // the ticket the next CPU to ask gets
};

class SpinGuard {
 public:
  explicit SpinGuard(SpinLock& l) : lock_(l) { lock_.lock(); }
  ~SpinGuard() { lock_.unlock(); }
  SpinGuard(const SpinGuard&) = delete;
  SpinGuard& operator=(const SpinGuard&) = delete;

 private:
  SpinLock& lock_;
};

class IrqSpinGuard {
 public:
  explicit IrqSpinGuard(SpinLock& l) : lock_(l), state_(arch_irq_disable()) { lock_.lock(); }
  ~IrqSpinGuard() {
    lock_.unlock();
    arch_irq_restore(state_);
  }
  IrqSpinGuard(const IrqSpinGuard&) = delete;
  IrqSpinGuard& operator=(const IrqSpinGuard&) = delete;

 private:
  SpinLock& lock_;
  IrqState state_;
};
