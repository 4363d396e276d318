// The kernel's side of the memory_object protocol (vm/vm_pager.h) against a simulated pager:
// the pager_send_* messages are recorded here, and the pager's answers are played from
// thread_block, where the faulting thread would wait (arch/sched_stub.h). Lost, late and
// duplicated answers, errors, the pager's death and termination.
#include <mach/memory_object.h>

#include <functional>
#include <vector>

#include "arch/sched_stub.h"
#include "ipc/ipc_port.h"
#include "ipc/ipc_right.h"
#include "kern/thread.h"
#include "kern/zalloc.h"
#include "vm/vm_pager.h"
#include "vm_test_util.h"

namespace {

enum class Msg {
  kInit, kRequest, kUnlock, kReturn, kTerminate, kLockDone, kSupplyDone, kChangeDone, kCreate
};

struct Sent {
  Msg kind;
  uint64_t offset = 0;
  uint64_t length = 0;
  uint8_t first_byte = 0;  // data_return: the page's first byte
  bool dirty = false;
  kern_return_t result = KERN_SUCCESS;
};

std::vector<Sent> g_sent;
std::function<void()> g_pager;  // what the pager does while the faulting thread waits

size_t count(Msg kind) {
  size_t n = 0;
  for (const Sent& s : g_sent) n += s.kind == kind;
  return n;
}

WaitResult play_pager(const void*) {
  if (!g_pager) return WaitResult::kTimedOut;
  auto pager = std::move(g_pager);
  g_pager = nullptr;
  pager();
  return WaitResult::kAwakened;
}

}  // namespace

// The simulated pager's end of the messages. Rights that the messages would carry away are
// released as the message's destruction would release them.
extern "C" {
void pager_send_init(Port*, Port*, Port*) { g_sent.push_back({Msg::kInit}); }
void pager_send_data_request(Port*, Port*, uint64_t offset, uint64_t length, vm_prot_t) {
  g_sent.push_back({Msg::kRequest, offset, length});
}
void pager_send_data_unlock(Port*, Port*, uint64_t offset, uint64_t length, vm_prot_t) {
  g_sent.push_back({Msg::kUnlock, offset, length});
}
void pager_send_data_return(Port*, Port*, uint64_t offset, VmMapCopy* data, uint64_t size,
                            bool dirty, bool) {
  uint8_t b = 0;
  vm_map_copy_read(data, 0, &b, 1);
  g_sent.push_back({Msg::kReturn, offset, size, b, dirty});
  vm_map_copy_discard(data);
}
void pager_send_terminate(Port* pager, Port* control, Port* name) {
  g_sent.push_back({Msg::kTerminate});
  IpcGuard g;
  port_release_send(pager);
  for (Port* p : {control, name}) {
    p->kotype = KObjectType::kNone;
    p->kobject = nullptr;
    port_destroy(p);
    port_release(p);
  }
}
void pager_send_create(Port* default_pager, Port* object, uint64_t, Port*, Port*) {
  g_sent.push_back({Msg::kCreate});
  IpcGuard g;
  port_release_send(default_pager);
  port_destroy(object);
  port_release(object);
}
void pager_send_lock_completed(Port*, mach_msg_type_name_t, Port*, uint64_t offset,
                               uint64_t length) {
  g_sent.push_back({Msg::kLockDone, offset, length});
}
void pager_send_supply_completed(Port*, mach_msg_type_name_t, Port*, uint64_t offset,
                                 uint64_t length, kern_return_t result, uint64_t) {
  g_sent.push_back({Msg::kSupplyDone, offset, length, 0, false, result});
}
void pager_send_change_completed(Port*, mach_msg_type_name_t, bool, int) {
  g_sent.push_back({Msg::kChangeDone});
}
}  // extern "C"

namespace {

constexpr vaddr_t kAt = 0x100000;
constexpr uint64_t kPages = 16;

class VmPagerTest : public VmTest {
 protected:
  void SetUp() override {
    VmTest::SetUp();
    g_sent.clear();
    g_pager = nullptr;
    host_set_block_hook(play_pager);
    IpcGuard g;
    pager_ = port_alloc();
    ASSERT_NE(pager_, nullptr);
    port_make_send(pager_);  // the test's own send right, released at the end
    port_reference(pager_);
  }

  void TearDown() override {
    host_set_block_hook(nullptr);
    if (map_) vm_map_deallocate(map_);
    vm_pager_run_deferred();
    {
      IpcGuard g;
      if (pager_active_) port_destroy(pager_);
      port_release_send(pager_);
      port_release(pager_);
    }
    EXPECT_EQ(port_count(), 0u);
    EXPECT_EQ(kmsg_count(), 0u);
    // Empty IPC zones go, so that the next test's fresh page allocator meets none of their
    // chunks (destroyed outside zone_for_each, which holds the zone list's lock).
    std::vector<Zone*> ipc_zones;
    zone_for_each([&](Zone& z) {
      if (strncmp(z.name(), "ipc.", 4) == 0 && z.stats().in_use == 0) ipc_zones.push_back(&z);
    });
    for (Zone* z : ipc_zones) z->destroy();
    VmTest::TearDown();
  }

  // Maps the memory object at kAt, as vm_map with copy = false does.
  void map_object(bool ready = true) {
    {
      IpcGuard g;
      port_copy_send(pager_);  // the right vm_map's message carries
      port_reference(pager_);
    }
    VmObject* o = nullptr;
    ASSERT_EQ(vm_pager_object_for(pager_, &o), KERN_SUCCESS);
    if (!map_) map_ = new_map();
    vaddr_t a = kAt;
    ASSERT_EQ(vm_map(map_, &a, kPages * kPageSize, 0, false, o, 0, false, VM_PROT_ALL,
                     VM_PROT_ALL, VM_INHERIT_SHARE),
              KERN_SUCCESS);
    vm_object_deallocate(o);
    object_ = o;
    if (ready) ASSERT_EQ(vm_pager_ready(o, false, MEMORY_OBJECT_COPY_DELAY), KERN_SUCCESS);
  }

  // The pager supplies `n` pages at `offset`, each filled with its page number + `base`.
  kern_return_t supply(uint64_t offset, uint64_t n, uint8_t base = 0x40) {
    std::vector<uint8_t> data(n * kPageSize);
    for (uint64_t i = 0; i < n; ++i)
      memset(&data[i * kPageSize], base + static_cast<uint8_t>(offset / kPageSize + i),
             kPageSize);
    VmMapCopy* c = vm_map_copy_from_kernel(data.data(), data.size());
    kern_return_t kr = vm_pager_data_supply(object_, offset, c, data.size(), VM_PROT_NONE,
                                            false, nullptr, 0);
    if (kr != KERN_SUCCESS) vm_map_copy_discard(c);
    return kr;
  }

  Port* pager_ = nullptr;
  bool pager_active_ = true;
  VmMap* map_ = nullptr;
  VmObject* object_ = nullptr;
};

TEST_F(VmPagerTest, OneObjectPerMemoryObjectAndOneInit) {
  map_object();
  VmObject* again = nullptr;
  {
    IpcGuard g;
    port_copy_send(pager_);
    port_reference(pager_);
  }
  ASSERT_EQ(vm_pager_object_for(pager_, &again), KERN_SUCCESS);
  EXPECT_EQ(again, object_);
  vm_object_deallocate(again);
  EXPECT_EQ(count(Msg::kInit), 1u);
  EXPECT_EQ(pager_->srights, 2u);  // the test's and the object's
}

TEST_F(VmPagerTest, FaultAsksThePagerOnceAndMapsItsData) {
  map_object();
  g_pager = [&] { EXPECT_EQ(supply(2 * kPageSize, 1), KERN_SUCCESS); };
  EXPECT_EQ(user_read(map_, kAt + 2 * kPageSize), 0x42);
  ASSERT_EQ(count(Msg::kRequest), 1u);
  EXPECT_EQ(g_sent.back().offset, 2 * kPageSize);
  EXPECT_EQ(g_sent.back().length, (kPages - 2) * kPageSize);  // to the end of the mapping
  EXPECT_EQ(user_read(map_, kAt + 2 * kPageSize + 7), 0x42);
  EXPECT_EQ(count(Msg::kRequest), 1u);
}

TEST_F(VmPagerTest, PrefetchedPagesNeedNoRequest) {
  map_object();
  g_pager = [&] { EXPECT_EQ(supply(0, 4), KERN_SUCCESS); };
  EXPECT_EQ(user_read(map_, kAt), 0x40);
  for (uint64_t i = 1; i < 4; ++i) EXPECT_EQ(user_read(map_, kAt + i * kPageSize), 0x40 + i);
  EXPECT_EQ(count(Msg::kRequest), 1u);
}

TEST_F(VmPagerTest, FaultBeforeReadyWaitsForIt) {
  map_object(false);
  g_pager = [&] {
    vm_pager_ready(object_, false, MEMORY_OBJECT_COPY_DELAY);
    g_pager = [&] { supply(0, 1); };
  };
  EXPECT_EQ(user_read(map_, kAt), 0x40);
  EXPECT_EQ(count(Msg::kRequest), 1u);
}

TEST_F(VmPagerTest, LostAnswerFailsTheFaultAndALateOneIsAPrefetch) {
  map_object();
  uint8_t v;
  EXPECT_EQ(try_read(map_, kAt, &v), KERN_MEMORY_ERROR);
  EXPECT_EQ(count(Msg::kRequest), 1u);
  EXPECT_EQ(vm_counters().resident_count, 0u);  // the placeholder went
  EXPECT_EQ(supply(0, 1), KERN_SUCCESS);        // late
  EXPECT_EQ(user_read(map_, kAt), 0x40);
  EXPECT_EQ(count(Msg::kRequest), 1u);
}

TEST_F(VmPagerTest, DuplicateAnswerKeepsTheFirstData) {
  map_object();
  g_pager = [&] { supply(0, 1); };
  user_write(map_, kAt, 0x99);
  std::vector<uint8_t> data(kPageSize, 0x11);
  VmMapCopy* c = vm_map_copy_from_kernel(data.data(), data.size());
  Port* reply;
  {
    IpcGuard g;
    reply = port_alloc();
    port_make_send_once(reply);
    port_reference(reply);
  }
  EXPECT_EQ(vm_pager_data_supply(object_, 0, c, kPageSize, VM_PROT_NONE, false, reply,
                                 MACH_MSG_TYPE_PORT_SEND_ONCE),
            KERN_SUCCESS);
  ASSERT_EQ(count(Msg::kSupplyDone), 1u);
  EXPECT_EQ(g_sent.back().result, KERN_MEMORY_PRESENT);
  EXPECT_EQ(user_read(map_, kAt), 0x99);
  {
    IpcGuard g;  // the simulated reply consumed nothing: release what it would have moved
    port_release_send_once(reply);
    port_destroy(reply);
    port_release(reply);
  }
}

TEST_F(VmPagerTest, DataErrorFailsOneFaultThenAsksAgain) {
  map_object();
  g_pager = [&] { vm_pager_data_error(object_, 0, kPageSize, KERN_FAILURE); };
  uint8_t v;
  EXPECT_EQ(try_read(map_, kAt, &v), KERN_MEMORY_ERROR);
  g_pager = [&] { supply(0, 1); };
  EXPECT_EQ(user_read(map_, kAt), 0x40);
  EXPECT_EQ(count(Msg::kRequest), 2u);
}

TEST_F(VmPagerTest, DataUnavailableZeroFills) {
  map_object();
  g_pager = [&] { vm_pager_data_unavailable(object_, 0, 4 * kPageSize); };
  EXPECT_EQ(user_read(map_, kAt + 5), 0);
}

TEST_F(VmPagerTest, PagerDeathWakesAndFailsFaults) {
  map_object();
  g_pager = [&] {
    IpcGuard g;
    port_destroy(pager_);
    pager_active_ = false;
  };
  uint8_t v;
  EXPECT_EQ(try_read(map_, kAt, &v), KERN_MEMORY_ERROR);
  EXPECT_EQ(vm_counters().resident_count, 0u);
  EXPECT_EQ(try_read(map_, kAt + kPageSize, &v), KERN_MEMORY_ERROR);
  EXPECT_EQ(count(Msg::kRequest), 1u);  // nothing asked of a dead pager
}

TEST_F(VmPagerTest, LastReferenceReturnsDirtyPagesThenTerminates) {
  map_object();
  g_pager = [&] { supply(0, 2); };
  user_write(map_, kAt, 0x77);                         // dirty
  EXPECT_EQ(user_read(map_, kAt + kPageSize), 0x41);  // clean
  vm_map_deallocate(map_);
  map_ = nullptr;
  EXPECT_EQ(vm_pager_deferred_count(), 1u);
  EXPECT_EQ(count(Msg::kTerminate), 0u);
  EXPECT_EQ(vm_pager_run_deferred(), 1u);
  ASSERT_EQ(count(Msg::kReturn), 1u);
  const Sent& r = g_sent[g_sent.size() - 2];
  EXPECT_EQ(r.kind, Msg::kReturn);
  EXPECT_EQ(r.offset, 0u);
  EXPECT_EQ(r.first_byte, 0x77);
  EXPECT_TRUE(r.dirty);
  EXPECT_EQ(g_sent.back().kind, Msg::kTerminate);
  EXPECT_EQ(pager_->pager_object, nullptr);
}

TEST_F(VmPagerTest, BadSuppliesChangeNothing) {
  map_object();
  std::vector<uint8_t> data(2 * kPageSize, 1);
  VmMapCopy* c = vm_map_copy_from_kernel(data.data(), data.size());
  EXPECT_EQ(vm_pager_data_supply(object_, 1, c, kPageSize, 0, false, nullptr, 0),
            KERN_INVALID_ARGUMENT);
  EXPECT_EQ(vm_pager_data_supply(object_, 0, c, 100, 0, false, nullptr, 0),
            KERN_INVALID_ARGUMENT);
  EXPECT_EQ(vm_pager_data_supply(object_, 0, c, 4 * kPageSize, 0, false, nullptr, 0),
            KERN_INVALID_ARGUMENT);  // longer than the data
  EXPECT_EQ(vm_pager_data_supply(object_, kPagerObjectSize, c, kPageSize, 0, false, nullptr, 0),
            KERN_INVALID_ARGUMENT);
  EXPECT_EQ(vm_pager_data_supply(object_, 0, c, kPageSize, 8, false, nullptr, 0),
            KERN_INVALID_ARGUMENT);
  vm_map_copy_discard(c);
  EXPECT_EQ(vm_counters().resident_count, 0u);
  EXPECT_EQ(vm_pager_data_error(object_, 3, kPageSize, KERN_FAILURE), KERN_INVALID_ARGUMENT);
  EXPECT_EQ(vm_pager_data_unavailable(object_, 0, 0), KERN_INVALID_ARGUMENT);
}

}  // namespace
