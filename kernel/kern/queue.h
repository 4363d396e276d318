// Intrusive doubly linked lists: the object carries its own QueueLink, so putting it on a
// list never allocates. Used for free page lists, page queues, run queues and wait queues.
//
// The list is not circular: it keeps head and tail pointers and an O(1) count, so an empty
// list is all zeros and a global list is constant-initialized (no constructor runs at boot).
// An object may be on several lists at once only through several QueueLink members.
// No locking: the owner of the list serializes access.
#pragma once
#include <stddef.h>

#include "kern/assert.h"

struct QueueLink {
  QueueLink* next = nullptr;
  QueueLink* prev = nullptr;
};

template <class T, QueueLink T::*Link>
class IntrusiveList {
 public:
  constexpr IntrusiveList() = default;
  IntrusiveList(const IntrusiveList&) = delete;
  IntrusiveList& operator=(const IntrusiveList&) = delete;

  bool empty() const { return head_ == nullptr; }
  size_t size() const { return size_; }

  // First / last element, or nullptr when the list is empty.
  T* front() const { return head_ ? from_link(head_) : nullptr; }
  T* back() const { return tail_ ? from_link(tail_) : nullptr; }
  // The element after `t` (on this list), or nullptr at the end.
  T* next(const T* t) const {
    QueueLink* l = (t->*Link).next;
    return l ? from_link(l) : nullptr;
  }

  // Appends `t`, which must not be on this list (or any list through the same link).
  void push_back(T* t) {
    QueueLink* l = &(t->*Link);
    l->next = nullptr;
    l->prev = tail_;
    if (tail_)
      tail_->next = l;
    else
      head_ = l;
    tail_ = l;
    ++size_;
  }

  // Prepends `t`, which must not be on this list (or any list through the same link).
  void push_front(T* t) {
    QueueLink* l = &(t->*Link);
    l->prev = nullptr;
    l->next = head_;
    if (head_)
      head_->prev = l;
    else
      tail_ = l;
    head_ = l;
    ++size_;
  }

  // Removes and returns the first element, or nullptr when the list is empty.
  T* pop_front() {
    if (!head_) return nullptr;
    T* t = from_link(head_);
    remove(t);
    return t;
  }

  // Removes `t`, which must be on this list. The checks catch removal from the wrong list
  // when `t` is at either end; a node in the middle of another list is not detected.
  void remove(T* t) {
    QueueLink* l = &(t->*Link);
    kassert(size_ > 0);
    if (l->prev) {
      kassert(l->prev->next == l);
      l->prev->next = l->next;
    } else {
      kassert(head_ == l);
      head_ = l->next;
    }
    if (l->next) {
      kassert(l->next->prev == l);
      l->next->prev = l->prev;
    } else {
      kassert(tail_ == l);
      tail_ = l->prev;
    }
    l->next = l->prev = nullptr;
    --size_;
  }

  // Forgets every element without touching it (their links are left stale). Only for
  // reinitializing a structure whose elements are being discarded wholesale.
  void reset() {
    head_ = tail_ = nullptr;
    size_ = 0;
  }

  // Forward iteration. The list must not change during the loop, except that the element
  // last returned may be removed if the loop stops right after.
  class Iterator {
   public:
    explicit Iterator(QueueLink* l) : l_(l) {}
    T* operator*() const { return from_link(l_); }
    Iterator& operator++() {
      l_ = l_->next;
      return *this;
    }
    bool operator==(const Iterator& o) const { return l_ == o.l_; }
    bool operator!=(const Iterator& o) const { return l_ != o.l_; }

   private:
    QueueLink* l_;
  };
  Iterator begin() const { return Iterator(head_); }
  Iterator end() const { return Iterator(nullptr); }

  // The object that contains link `l`.
  static T* from_link(QueueLink* l) {
    return reinterpret_cast<T*>(reinterpret_cast<char*>(l) - link_offset());
  }

 private:
  // Byte offset of the link inside T. Under the Itanium C++ ABI (GCC and Clang on x86-64) a
  // pointer to data member is represented as exactly that offset; reading it this way avoids
  // the null-object tricks of offsetof that UBSan rightly flags.
  static ptrdiff_t link_offset() {
    static_assert(sizeof(Link) == sizeof(ptrdiff_t), "Itanium ABI data member pointer expected");
    return __builtin_bit_cast(ptrdiff_t, Link);
  }

  QueueLink* head_ = nullptr;
  QueueLink* tail_ = nullptr;
  size_t size_ = 0;
};
