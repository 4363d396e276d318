// Placement new, the only form of operator new the kernel has: construction always goes
// into memory that a zone or the page allocator already handed out.
#pragma once
#include <stddef.h>

#if defined(MICA_HOST)
// The host build links the C++ library, whose <new> already declares placement new.
#include <new>
#else
inline void* operator new(size_t, void* p) noexcept { return p; }
inline void* operator new[](size_t, void* p) noexcept { return p; }
inline void operator delete(void*, void*) noexcept {}
inline void operator delete[](void*, void*) noexcept {}
#endif
