// Spinlocks. A SpinLock is taken only through a guard: IrqSpinGuard when the lock may also
// be taken from an interrupt handler (it disables interrupts on this CPU first), SpinGuard
// when interrupts are known to be off already. Lock order is documented in docs/design.md.
#pragma once
#include "kern/assert.h"
#include "machine/cpu.h"

class SpinLock {
 public:
  constexpr SpinLock() = default;
  SpinLock(const SpinLock&) = delete;
  SpinLock& operator=(const SpinLock&) = delete;

  void lock() {
    while (__atomic_exchange_n(&locked_, true, __ATOMIC_ACQUIRE)) {
      while (__atomic_load_n(&locked_, __ATOMIC_RELAXED)) arch_cpu_relax();
    }
  }
  bool try_lock() { return !__atomic_exchange_n(&locked_, true, __ATOMIC_ACQUIRE); }
  void unlock() { __atomic_store_n(&locked_, false, __ATOMIC_RELEASE); }
  bool is_locked() const { return __atomic_load_n(&locked_, __ATOMIC_RELAXED); }

 private:
  bool locked_ = false;
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
