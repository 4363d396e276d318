// Right transitions between two spaces (ipc_right.cc, ipc_port.cc, ipc_notify.cc): each
// disposition through right_copyin/right_copyout with the port's counts and the entries'
// types and urefs after each step; dead names; the no-senders, send-once, dead-name,
// port-deleted and port-destroyed notifications; the user calls on one name and their edge
// cases; and a dying space that leaves nothing behind.
#include <random>

#include "ipc_test_util.h"

namespace {

using IpcRight = IpcTest;

constexpr uint32_t kSend = MACH_PORT_TYPE_SEND;
constexpr uint32_t kRecv = MACH_PORT_TYPE_RECEIVE;
constexpr uint32_t kOnce = MACH_PORT_TYPE_SEND_ONCE;
constexpr uint32_t kDead = MACH_PORT_TYPE_DEAD_NAME;

TEST_F(IpcRight, AllocateReceive) {
  mach_port_name_t n = new_port(a_);
  EXPECT_EQ(n, 1u);  // a task's first name, as on GNU Mach
  EXPECT_EQ(type_of(a_, n), kRecv);
  EXPECT_EQ(urefs_of(a_, n), 0u);
  Port* p = port_of(a_, n);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->active);
  EXPECT_EQ(p->refs, 1u);
  EXPECT_EQ(p->receiver, &a_);
  EXPECT_EQ(p->receiver_name, n);
  EXPECT_EQ(p->srights, 0u);
  EXPECT_EQ(p->sorights, 0u);
  EXPECT_EQ(p->mscount, 0u);
  EXPECT_EQ(port_count(), 1u);
  mach_port_type_t t = 0;
  EXPECT_EQ(mach_port_type(&a_, n, &t), KERN_SUCCESS);
  EXPECT_EQ(t, kRecv);
}

TEST_F(IpcRight, MakeCopyMoveSend) {
  mach_port_name_t n = new_port(a_);
  Port* p = port_of(a_, n);

  // make-send into B: a new send right, counted once, one more reference.
  mach_port_name_t nb = give(a_, n, MACH_MSG_TYPE_MAKE_SEND, b_);
  EXPECT_NE(nb, MACH_PORT_NULL);
  EXPECT_EQ(type_of(b_, nb), kSend);
  EXPECT_EQ(urefs_of(b_, nb), 1u);
  EXPECT_EQ(p->srights, 1u);
  EXPECT_EQ(p->mscount, 1u);
  EXPECT_EQ(p->refs, 2u);
  EXPECT_EQ(type_of(a_, n), kRecv);  // the receive right stays

  // A second make-send merges into B's entry: one more uref, same name.
  EXPECT_EQ(give(a_, n, MACH_MSG_TYPE_MAKE_SEND, b_), nb);
  EXPECT_EQ(urefs_of(b_, nb), 2u);
  EXPECT_EQ(p->srights, 1u);
  EXPECT_EQ(p->mscount, 2u);
  EXPECT_EQ(p->refs, 2u);

  // copy-send back to A lands on the receive right's name: SEND|RECEIVE.
  EXPECT_EQ(give(b_, nb, MACH_MSG_TYPE_COPY_SEND, a_), n);
  EXPECT_EQ(type_of(a_, n), kSend | kRecv);
  EXPECT_EQ(urefs_of(a_, n), 1u);
  EXPECT_EQ(urefs_of(b_, nb), 2u);  // copy leaves the sender's urefs alone
  EXPECT_EQ(p->srights, 2u);
  EXPECT_EQ(p->refs, 3u);
  EXPECT_EQ(p->mscount, 2u);

  // move-send with urefs > 1: the sender keeps the entry with one less.
  EXPECT_EQ(give(b_, nb, MACH_MSG_TYPE_MOVE_SEND, a_), n);
  EXPECT_EQ(urefs_of(b_, nb), 1u);
  EXPECT_EQ(urefs_of(a_, n), 2u);
  EXPECT_EQ(p->srights, 2u);
  EXPECT_EQ(p->refs, 3u);

  // Moving the last one frees B's entry.
  EXPECT_EQ(give(b_, nb, MACH_MSG_TYPE_MOVE_SEND, a_), n);
  EXPECT_EQ(entry(b_, nb), nullptr);
  EXPECT_EQ(b_.size(), 0u);
  EXPECT_EQ(urefs_of(a_, n), 3u);
  EXPECT_EQ(p->srights, 1u);
  EXPECT_EQ(p->refs, 2u);

  // A's send rights go by mod_refs; the receive right stays.
  {
    IpcGuard g;
    EXPECT_EQ(right_mod_refs(&a_, n, MACH_PORT_RIGHT_SEND, -3), KERN_SUCCESS);
  }
  EXPECT_EQ(type_of(a_, n), kRecv);
  EXPECT_EQ(p->srights, 0u);
  EXPECT_EQ(p->refs, 1u);
}

TEST_F(IpcRight, MoveSendKeepsReceive) {
  mach_port_name_t n = new_port(a_);
  Port* p = port_of(a_, n);
  EXPECT_EQ(give(a_, n, MACH_MSG_TYPE_MAKE_SEND, a_), n);  // insert a send right at n
  EXPECT_EQ(type_of(a_, n), kSend | kRecv);
  mach_port_name_t nb = give(a_, n, MACH_MSG_TYPE_MOVE_SEND, b_);
  EXPECT_EQ(type_of(a_, n), kRecv);
  EXPECT_EQ(urefs_of(a_, n), 0u);
  EXPECT_EQ(type_of(b_, nb), kSend);
  EXPECT_EQ(p->srights, 1u);
  EXPECT_EQ(p->refs, 2u);
  // And A's name still finds the port through the reverse map when a send right returns.
  EXPECT_EQ(give(b_, nb, MACH_MSG_TYPE_MOVE_SEND, a_), n);
  EXPECT_EQ(type_of(a_, n), kSend | kRecv);
}

TEST_F(IpcRight, SendOnce) {
  mach_port_name_t n = new_port(a_);
  Port* p = port_of(a_, n);
  mach_port_name_t o1 = give(a_, n, MACH_MSG_TYPE_MAKE_SEND_ONCE, b_);
  mach_port_name_t o2 = give(a_, n, MACH_MSG_TYPE_MAKE_SEND_ONCE, b_);
  // Send-once rights never merge: each has its own name.
  EXPECT_NE(o1, o2);
  EXPECT_EQ(type_of(b_, o1), kOnce);
  EXPECT_EQ(urefs_of(b_, o1), 1u);
  EXPECT_EQ(type_of(b_, o2), kOnce);
  EXPECT_EQ(p->sorights, 2u);
  EXPECT_EQ(p->srights, 0u);
  EXPECT_EQ(p->mscount, 0u);
  EXPECT_EQ(p->refs, 3u);

  // move-send-once to A: a new name there too (not the receive right's).
  mach_port_name_t oa = give(b_, o1, MACH_MSG_TYPE_MOVE_SEND_ONCE, a_);
  EXPECT_NE(oa, n);
  EXPECT_EQ(type_of(a_, oa), kOnce);
  EXPECT_EQ(entry(b_, o1), nullptr);
  EXPECT_EQ(p->sorights, 2u);
  EXPECT_EQ(p->refs, 3u);

  // Wrong dispositions on a send-once right.
  copyin(b_, o2, MACH_MSG_TYPE_COPY_SEND, KERN_INVALID_RIGHT);
  copyin(b_, o2, MACH_MSG_TYPE_MOVE_SEND, KERN_INVALID_RIGHT);
  copyin(b_, o2, MACH_MSG_TYPE_MAKE_SEND, KERN_INVALID_RIGHT);
  copyin(b_, o2, MACH_MSG_TYPE_MOVE_RECEIVE, KERN_INVALID_RIGHT);
  EXPECT_EQ(type_of(b_, o2), kOnce);
}

TEST_F(IpcRight, WrongRightsAndNames) {
  mach_port_name_t n = new_port(a_);
  mach_port_name_t nb = give(a_, n, MACH_MSG_TYPE_MAKE_SEND, b_);
  Port* p = port_of(a_, n);
  // A send right cannot make rights or move the receive right.
  copyin(b_, nb, MACH_MSG_TYPE_MAKE_SEND, KERN_INVALID_RIGHT);
  copyin(b_, nb, MACH_MSG_TYPE_MAKE_SEND_ONCE, KERN_INVALID_RIGHT);
  copyin(b_, nb, MACH_MSG_TYPE_MOVE_RECEIVE, KERN_INVALID_RIGHT);
  copyin(b_, nb, MACH_MSG_TYPE_MOVE_SEND_ONCE, KERN_INVALID_RIGHT);
  // A receive right alone has no send right to copy or move.
  copyin(a_, n, MACH_MSG_TYPE_COPY_SEND, KERN_INVALID_RIGHT);
  copyin(a_, n, MACH_MSG_TYPE_MOVE_SEND, KERN_INVALID_RIGHT);
  // Unknown names and dispositions.
  copyin(a_, 0x777, MACH_MSG_TYPE_COPY_SEND, KERN_INVALID_NAME);
  copyin(a_, MACH_PORT_NULL, MACH_MSG_TYPE_COPY_SEND, KERN_INVALID_NAME);
  copyin(a_, n, MACH_MSG_TYPE_INTEGER_32, KERN_INVALID_VALUE);
  EXPECT_EQ(p->srights, 1u);
  EXPECT_EQ(p->refs, 2u);
  EXPECT_EQ(urefs_of(b_, nb), 1u);
}

TEST_F(IpcRight, MoveReceive) {
  mach_port_name_t n = new_port(a_);
  Port* p = port_of(a_, n);
  mach_port_name_t nb = give(a_, n, MACH_MSG_TYPE_MAKE_SEND, b_);
  // A keeps a send right too, so its entry survives the move.
  EXPECT_EQ(give(a_, n, MACH_MSG_TYPE_MAKE_SEND, a_), n);

  host_wakeups_clear();
  Port* r = copyin(a_, n, MACH_MSG_TYPE_MOVE_RECEIVE);
  EXPECT_EQ(r, p);
  EXPECT_EQ(p->receiver, nullptr);
  EXPECT_EQ(p->receiver_name, MACH_PORT_NULL);
  EXPECT_EQ(type_of(a_, n), kSend);
  EXPECT_TRUE(p->active);
  // As GNU Mach's ipc_port_clear_receiver: the make-send count and sequence number start
  // over, and receivers waiting on the old name are woken (to find it gone).
  EXPECT_EQ(p->mscount, 0u);
  EXPECT_EQ(p->seqno, 0u);
  EXPECT_TRUE(host_woken(p));

  // It arrives where B holds send rights: one entry, SEND|RECEIVE.
  EXPECT_EQ(copyout(b_, r, MACH_MSG_TYPE_PORT_RECEIVE), nb);
  EXPECT_EQ(type_of(b_, nb), kSend | kRecv);
  EXPECT_EQ(p->receiver, &b_);
  EXPECT_EQ(p->receiver_name, nb);
  EXPECT_EQ(p->srights, 2u);
  EXPECT_EQ(p->refs, 3u);  // A's send, B's send, B's receive

  // And on to A again, where only a send right is: it joins it.
  EXPECT_EQ(give(b_, nb, MACH_MSG_TYPE_MOVE_RECEIVE, a_), n);
  EXPECT_EQ(type_of(a_, n), kSend | kRecv);
  EXPECT_EQ(type_of(b_, nb), kSend);
  EXPECT_EQ(p->receiver_name, n);
  // A receive right alone moves its entry away entirely.
  mach_port_name_t m = new_port(a_);
  mach_port_name_t mb = give(a_, m, MACH_MSG_TYPE_MOVE_RECEIVE, b_);
  EXPECT_EQ(entry(a_, m), nullptr);
  EXPECT_EQ(type_of(b_, mb), kRecv);
  EXPECT_EQ(port_of(b_, mb)->refs, 1u);
}

TEST_F(IpcRight, MoveReceiveResetsCountsForNewReceiver) {
  // The new receiver's no-senders request must see its own make-send count.
  mach_port_name_t n = new_port(a_);
  mach_port_name_t nb = give(a_, n, MACH_MSG_TYPE_MAKE_SEND, b_);
  Port* p = port_of(a_, n);
  {
    IpcGuard g;
    p->seqno = 5;
  }
  mach_port_name_t r = give(a_, n, MACH_MSG_TYPE_MOVE_RECEIVE, b_);
  EXPECT_EQ(r, nb);
  EXPECT_EQ(p->mscount, 0u);
  EXPECT_EQ(p->seqno, 0u);
}

TEST_F(IpcRight, DeadNameOnLookup) {
  mach_port_name_t n = new_port(a_);
  Port* p = port_of(a_, n);
  mach_port_name_t nb = give(a_, n, MACH_MSG_TYPE_MAKE_SEND, b_);
  give(a_, n, MACH_MSG_TYPE_MAKE_SEND, b_);
  mach_port_name_t ob = give(a_, n, MACH_MSG_TYPE_MAKE_SEND_ONCE, b_);
  EXPECT_EQ(urefs_of(b_, nb), 2u);
  EXPECT_EQ(p->refs, 3u);

  host_wakeups_clear();
  {
    IpcGuard g;
    EXPECT_EQ(right_destroy(&a_, n), KERN_SUCCESS);
  }
  EXPECT_EQ(entry(a_, n), nullptr);
  EXPECT_TRUE(host_woken(p));  // receivers and blocked senders find it dead
  EXPECT_TRUE(host_woken(&p->qlimit));
  EXPECT_EQ(port_count(), 1u);  // B's rights still hold it until looked up

  // Lazily: the send right becomes a dead name with its urefs, and lets go of the port.
  IpcEntry* e = entry(b_, nb);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->type, kDead);
  EXPECT_EQ(e->urefs, 2u);
  EXPECT_EQ(e->object, nullptr);
  EXPECT_FALSE(IpcSpace::in_reverse(e));
  EXPECT_EQ(type_of(b_, ob), kDead);
  EXPECT_EQ(urefs_of(b_, ob), 1u);
  EXPECT_EQ(port_count(), 0u);

  // Dead names are copied as MACH_PORT_DEAD; move-send uses up a uref.
  EXPECT_EQ(copyin(b_, nb, MACH_MSG_TYPE_COPY_SEND), kDeadPort);
  EXPECT_EQ(urefs_of(b_, nb), 2u);
  EXPECT_EQ(copyin(b_, nb, MACH_MSG_TYPE_MOVE_SEND), kDeadPort);
  EXPECT_EQ(urefs_of(b_, nb), 1u);
  EXPECT_EQ(copyout(a_, kDeadPort, MACH_MSG_TYPE_PORT_SEND), MACH_PORT_DEAD);
  EXPECT_EQ(copyin(b_, ob, MACH_MSG_TYPE_MOVE_SEND_ONCE), kDeadPort);
  EXPECT_EQ(entry(b_, ob), nullptr);
  copyin(b_, nb, MACH_MSG_TYPE_MAKE_SEND, KERN_INVALID_RIGHT);
  mach_port_type_t t = 0;
  EXPECT_EQ(mach_port_type(&b_, nb, &t), KERN_SUCCESS);
  EXPECT_EQ(t, kDead);
}

TEST_F(IpcRight, DeadNameNotification) {
  mach_port_name_t n = new_port(a_);
  mach_port_name_t nb = give(a_, n, MACH_MSG_TYPE_MAKE_SEND, b_);
  mach_port_name_t notify = new_port(b_);
  ASSERT_EQ(request(b_, nb, MACH_NOTIFY_DEAD_NAME, 0, b_, notify), KERN_SUCCESS);
  mach_port_type_t t = 0;
  EXPECT_EQ(mach_port_type(&b_, nb, &t), KERN_SUCCESS);
  EXPECT_EQ(t, kSend | MACH_PORT_TYPE_DNREQUEST);
  EXPECT_EQ(port_of(b_, notify)->sorights, 1u);

  {
    IpcGuard g;
    EXPECT_EQ(right_destroy(&a_, n), KERN_SUCCESS);
  }
  // The notification is queued at once, naming B's name for the port.
  ASSERT_EQ(queued(b_, notify), 1u);
  EXPECT_TRUE(host_woken(port_of(b_, notify)));
  auto m = receive(b_, notify);
  mach_msg_header_t h = header_of(m);
  EXPECT_EQ(h.msgh_id, MACH_NOTIFY_DEAD_NAME);
  EXPECT_EQ(h.msgh_size, sizeof(mach_dead_name_notification_t));
  EXPECT_EQ(h.msgh_local_port, notify);
  EXPECT_EQ(h.msgh_remote_port, MACH_PORT_NULL);
  EXPECT_EQ(MACH_MSGH_BITS_LOCAL(h.msgh_bits), unsigned{MACH_MSG_TYPE_PORT_SEND_ONCE});
  EXPECT_EQ(notify_value(m), nb);
  EXPECT_EQ(port_of(b_, notify)->sorights, 0u);  // the notification used the right

  // The dead name carries one more uref for the request, as on GNU Mach.
  EXPECT_EQ(type_of(b_, nb), kDead);
  EXPECT_EQ(urefs_of(b_, nb), 2u);
  {
    IpcGuard g;
    EXPECT_EQ(right_deallocate(&b_, nb), KERN_SUCCESS);
    EXPECT_EQ(right_deallocate(&b_, nb), KERN_SUCCESS);
    EXPECT_EQ(right_deallocate(&b_, nb), KERN_INVALID_NAME);
  }
}

TEST_F(IpcRight, PortDeletedNotification) {
  // Giving up a right that has a dead-name request sends port-deleted.
  mach_port_name_t n = new_port(a_);
  mach_port_name_t nb = give(a_, n, MACH_MSG_TYPE_MAKE_SEND, b_);
  mach_port_name_t notify = new_port(b_);
  ASSERT_EQ(request(b_, nb, MACH_NOTIFY_DEAD_NAME, 0, b_, notify), KERN_SUCCESS);
  EXPECT_EQ(zone_in_use("ipc.dnrequest"), 1u);
  {
    IpcGuard g;
    EXPECT_EQ(right_deallocate(&b_, nb), KERN_SUCCESS);
  }
  EXPECT_EQ(zone_in_use("ipc.dnrequest"), 0u);
  auto m = receive(b_, notify);
  EXPECT_EQ(header_of(m).msgh_id, MACH_NOTIFY_PORT_DELETED);
  EXPECT_EQ(notify_value(m), nb);
  // No dead-name notification later.
  {
    IpcGuard g;
    EXPECT_EQ(right_destroy(&a_, n), KERN_SUCCESS);
  }
  EXPECT_EQ(queued(b_, notify), 0u);
}

TEST_F(IpcRight, NoSendersNotification) {
  mach_port_name_t n = new_port(a_);
  Port* p = port_of(a_, n);
  mach_port_name_t nb = give(a_, n, MACH_MSG_TYPE_MAKE_SEND, b_);
  give(a_, n, MACH_MSG_TYPE_MAKE_SEND, b_);
  ASSERT_EQ(request(a_, n, MACH_NOTIFY_NO_SENDERS, 0, a_, n), KERN_SUCCESS);
  EXPECT_EQ(p->nsrequest, p);  // its own receive right hears it
  mach_port_name_t ob = give(b_, nb, MACH_MSG_TYPE_COPY_SEND, b_);
  EXPECT_EQ(ob, nb);
  EXPECT_EQ(urefs_of(b_, nb), 3u);
  EXPECT_EQ(p->mscount, 2u);
  {
    IpcGuard g;
    EXPECT_EQ(right_mod_refs(&b_, nb, MACH_PORT_RIGHT_SEND, -2), KERN_SUCCESS);
  }
  EXPECT_EQ(queued(a_, n), 0u);  // a uref is left
  {
    IpcGuard g;
    EXPECT_EQ(right_deallocate(&b_, nb), KERN_SUCCESS);
  }
  EXPECT_EQ(p->srights, 0u);
  EXPECT_EQ(p->nsrequest, nullptr);  // used up
  ASSERT_EQ(queued(a_, n), 1u);
  auto m = receive(a_, n);
  mach_msg_header_t h = header_of(m);
  EXPECT_EQ(h.msgh_id, MACH_NOTIFY_NO_SENDERS);
  EXPECT_EQ(h.msgh_size, sizeof(mach_no_senders_notification_t));
  EXPECT_EQ(h.msgh_local_port, n);
  EXPECT_EQ(notify_value(m), 2u);  // the make-send count
  EXPECT_EQ(p->sorights, 0u);
  EXPECT_EQ(p->refs, 1u);

  // Requested when there are already no senders and sync <= mscount: at once.
  ASSERT_EQ(request(a_, n, MACH_NOTIFY_NO_SENDERS, 2, a_, n), KERN_SUCCESS);
  EXPECT_EQ(notify_value(receive(a_, n)), 2u);
  // With sync above mscount: armed, not fired.
  ASSERT_EQ(request(a_, n, MACH_NOTIFY_NO_SENDERS, 3, a_, n), KERN_SUCCESS);
  EXPECT_EQ(queued(a_, n), 0u);
  EXPECT_NE(p->nsrequest, nullptr);
}

TEST_F(IpcRight, SendOnceNotification) {
  mach_port_name_t n = new_port(a_);
  Port* p = port_of(a_, n);
  mach_port_name_t ob = give(a_, n, MACH_MSG_TYPE_MAKE_SEND_ONCE, b_);
  EXPECT_EQ(p->sorights, 1u);
  {
    IpcGuard g;
    EXPECT_EQ(right_deallocate(&b_, ob), KERN_SUCCESS);
  }
  EXPECT_EQ(entry(b_, ob), nullptr);
  // The message carries the right until it is received.
  EXPECT_EQ(p->sorights, 1u);
  ASSERT_EQ(queued(a_, n), 1u);
  auto m = receive(a_, n);
  mach_msg_header_t h = header_of(m);
  EXPECT_EQ(h.msgh_id, MACH_NOTIFY_SEND_ONCE);
  EXPECT_EQ(h.msgh_size, sizeof(mach_send_once_notification_t));
  EXPECT_EQ(h.msgh_local_port, n);
  EXPECT_EQ(p->sorights, 0u);
  EXPECT_EQ(p->refs, 1u);

  // mod_refs -1 and destroy of a send-once right notify the same way.
  ob = give(a_, n, MACH_MSG_TYPE_MAKE_SEND_ONCE, b_);
  mach_port_name_t ob2 = give(a_, n, MACH_MSG_TYPE_MAKE_SEND_ONCE, b_);
  {
    IpcGuard g;
    EXPECT_EQ(right_mod_refs(&b_, ob, MACH_PORT_RIGHT_SEND_ONCE, -1), KERN_SUCCESS);
    EXPECT_EQ(right_destroy(&b_, ob2), KERN_SUCCESS);
  }
  EXPECT_EQ(queued(a_, n), 2u);
  EXPECT_EQ(header_of(receive(a_, n)).msgh_id, MACH_NOTIFY_SEND_ONCE);
  EXPECT_EQ(header_of(receive(a_, n)).msgh_id, MACH_NOTIFY_SEND_ONCE);
  EXPECT_EQ(p->sorights, 0u);
}

TEST_F(IpcRight, PortDestroyedNotification) {
  mach_port_name_t n = new_port(a_);
  Port* p = port_of(a_, n);
  mach_port_name_t nb = give(a_, n, MACH_MSG_TYPE_MAKE_SEND, b_);
  mach_port_name_t backup = new_port(b_);
  ASSERT_EQ(request(a_, n, MACH_NOTIFY_PORT_DESTROYED, 0, b_, backup), KERN_SUCCESS);
  {
    IpcGuard g;
    p->seqno = 3;
    EXPECT_EQ(right_destroy(&a_, n), KERN_SUCCESS);
  }
  // The port lives on; its receive right travels in the notification.
  EXPECT_TRUE(p->active);
  EXPECT_EQ(entry(a_, n), nullptr);
  EXPECT_EQ(p->receiver, nullptr);
  EXPECT_EQ(p->pdrequest, nullptr);
  EXPECT_EQ(p->mscount, 0u);  // the receive right left its space: counts start over
  EXPECT_EQ(p->seqno, 0u);
  EXPECT_EQ(type_of(b_, nb), kSend);  // not dead
  auto m = receive(b_, backup);
  mach_msg_header_t h = header_of(m);
  EXPECT_EQ(h.msgh_id, MACH_NOTIFY_PORT_DESTROYED);
  EXPECT_TRUE(h.msgh_bits & MACH_MSGH_BITS_COMPLEX);
  // The receive right lands on B's send right's name.
  EXPECT_EQ(notify_value(m), nb);
  EXPECT_EQ(type_of(b_, nb), kSend | kRecv);
  EXPECT_EQ(p->receiver, &b_);
  EXPECT_EQ(p->refs, 2u);
}

TEST_F(IpcRight, PortDestroyedNotificationDropped) {
  // The backup port is dead: the receive right dies with the notification.
  mach_port_name_t n = new_port(a_);
  mach_port_name_t nb = give(a_, n, MACH_MSG_TYPE_MAKE_SEND, b_);
  mach_port_name_t backup = new_port(b_);
  ASSERT_EQ(request(a_, n, MACH_NOTIFY_PORT_DESTROYED, 0, b_, backup), KERN_SUCCESS);
  {
    IpcGuard g;
    EXPECT_EQ(right_destroy(&b_, backup), KERN_SUCCESS);
    EXPECT_EQ(right_destroy(&a_, n), KERN_SUCCESS);
  }
  EXPECT_EQ(type_of(b_, nb), kDead);
  EXPECT_EQ(port_count(), 0u);
}

TEST_F(IpcRight, CopyoutToDeadPort) {
  mach_port_name_t n = new_port(a_);
  Port* s = copyin(a_, n, MACH_MSG_TYPE_MAKE_SEND);
  Port* o = copyin(a_, n, MACH_MSG_TYPE_MAKE_SEND_ONCE);
  {
    IpcGuard g;
    EXPECT_EQ(right_destroy(&a_, n), KERN_SUCCESS);
  }
  // Rights to a port that died in transit arrive as MACH_PORT_DEAD (GNU Mach's
  // ipc_kmsg_copyout_object), taking no name in the receiver's space.
  EXPECT_EQ(copyout(b_, s, MACH_MSG_TYPE_PORT_SEND), MACH_PORT_DEAD);
  EXPECT_EQ(copyout(b_, o, MACH_MSG_TYPE_PORT_SEND_ONCE), MACH_PORT_DEAD);
  EXPECT_EQ(b_.size(), 0u);
  EXPECT_EQ(port_count(), 0u);
}

TEST_F(IpcRight, ModRefsEdgeCases) {
  mach_port_name_t n = new_port(a_);
  Port* p = port_of(a_, n);
  mach_port_name_t nb = give(a_, n, MACH_MSG_TYPE_MAKE_SEND, b_);
  IpcGuard g;
  mach_port_urefs_t r = 99;
  // Wrong right, bad right number, unknown name.
  EXPECT_EQ(right_mod_refs(&b_, nb, MACH_PORT_RIGHT_RECEIVE, -1), KERN_INVALID_RIGHT);
  EXPECT_EQ(right_mod_refs(&b_, nb, MACH_PORT_RIGHT_SEND_ONCE, -1), KERN_INVALID_RIGHT);
  EXPECT_EQ(right_mod_refs(&b_, nb, MACH_PORT_RIGHT_DEAD_NAME, 1), KERN_INVALID_RIGHT);
  EXPECT_EQ(right_mod_refs(&b_, nb, MACH_PORT_RIGHT_NUMBER, 1), KERN_INVALID_VALUE);
  EXPECT_EQ(right_mod_refs(&b_, 0x999, MACH_PORT_RIGHT_SEND, 1), KERN_INVALID_NAME);
  // Zero is a no-op that still checks the right.
  EXPECT_EQ(right_mod_refs(&b_, nb, MACH_PORT_RIGHT_SEND, 0), KERN_SUCCESS);
  EXPECT_EQ(right_mod_refs(&a_, n, MACH_PORT_RIGHT_SEND, 0), KERN_INVALID_RIGHT);
  // Below zero.
  EXPECT_EQ(right_mod_refs(&b_, nb, MACH_PORT_RIGHT_SEND, -2), KERN_INVALID_VALUE);
  EXPECT_EQ(b_.lookup(nb)->urefs, 1u);
  // Up to the limit, not past it.
  EXPECT_EQ(right_mod_refs(&b_, nb, MACH_PORT_RIGHT_SEND, IpcEntry::kMaxUrefs - 1),
            KERN_SUCCESS);
  EXPECT_EQ(b_.lookup(nb)->urefs, IpcEntry::kMaxUrefs);
  EXPECT_EQ(right_mod_refs(&b_, nb, MACH_PORT_RIGHT_SEND, 1), KERN_UREFS_OVERFLOW);
  EXPECT_EQ(right_get_refs(&b_, nb, MACH_PORT_RIGHT_SEND, &r), KERN_SUCCESS);
  EXPECT_EQ(r, IpcEntry::kMaxUrefs);
  EXPECT_EQ(p->srights, 1u);
  // A copyout onto a full entry saturates and releases the extra right.
  Port* extra = nullptr;
  EXPECT_EQ(right_copyin(&a_, n, MACH_MSG_TYPE_MAKE_SEND, &extra), KERN_SUCCESS);
  EXPECT_EQ(p->srights, 2u);
  mach_port_name_t got;
  EXPECT_EQ(right_copyout(&b_, extra, MACH_MSG_TYPE_PORT_SEND, &got), KERN_SUCCESS);
  EXPECT_EQ(got, nb);
  EXPECT_EQ(b_.lookup(nb)->urefs, IpcEntry::kMaxUrefs);
  EXPECT_EQ(p->srights, 1u);
  EXPECT_EQ(p->refs, 2u);
  // get_refs of rights the name lacks is zero; receive and send-once count one.
  EXPECT_EQ(right_get_refs(&b_, nb, MACH_PORT_RIGHT_RECEIVE, &r), KERN_SUCCESS);
  EXPECT_EQ(r, 0u);
  EXPECT_EQ(right_get_refs(&a_, n, MACH_PORT_RIGHT_RECEIVE, &r), KERN_SUCCESS);
  EXPECT_EQ(r, 1u);
  EXPECT_EQ(right_get_refs(&a_, n, MACH_PORT_RIGHT_NUMBER, &r), KERN_INVALID_VALUE);
  EXPECT_EQ(right_get_refs(&a_, 0x999, MACH_PORT_RIGHT_SEND, &r), KERN_INVALID_NAME);
  // Receive: only -1.
  EXPECT_EQ(right_mod_refs(&a_, n, MACH_PORT_RIGHT_RECEIVE, 1), KERN_INVALID_VALUE);
  EXPECT_EQ(right_mod_refs(&a_, n, MACH_PORT_RIGHT_RECEIVE, -2), KERN_INVALID_VALUE);
  // All of B's send urefs at once.
  EXPECT_EQ(right_mod_refs(&b_, nb, MACH_PORT_RIGHT_SEND, -int{IpcEntry::kMaxUrefs}),
            KERN_SUCCESS);
  EXPECT_EQ(b_.lookup(nb), nullptr);
  EXPECT_EQ(p->srights, 0u);
  EXPECT_EQ(p->refs, 1u);
  // Receive -1 destroys the port.
  EXPECT_EQ(right_mod_refs(&a_, n, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
  EXPECT_EQ(a_.lookup(n), nullptr);
  EXPECT_EQ(port_count(), 0u);
}

TEST_F(IpcRight, DeadNameRefs) {
  mach_port_name_t d = MACH_PORT_NULL;
  ASSERT_EQ(mach_port_allocate(&a_, MACH_PORT_RIGHT_DEAD_NAME, &d), KERN_SUCCESS);
  IpcGuard g;
  EXPECT_EQ(a_.lookup(d)->type, kDead);
  EXPECT_EQ(a_.lookup(d)->urefs, 1u);
  EXPECT_EQ(right_mod_refs(&a_, d, MACH_PORT_RIGHT_SEND, 1), KERN_INVALID_RIGHT);
  EXPECT_EQ(right_mod_refs(&a_, d, MACH_PORT_RIGHT_DEAD_NAME, IpcEntry::kMaxUrefs),
            KERN_UREFS_OVERFLOW);
  EXPECT_EQ(right_mod_refs(&a_, d, MACH_PORT_RIGHT_DEAD_NAME, 2), KERN_SUCCESS);
  EXPECT_EQ(a_.lookup(d)->urefs, 3u);
  EXPECT_EQ(right_deallocate(&a_, d), KERN_SUCCESS);
  EXPECT_EQ(right_mod_refs(&a_, d, MACH_PORT_RIGHT_DEAD_NAME, -2), KERN_SUCCESS);
  EXPECT_EQ(a_.lookup(d), nullptr);
  // destroy takes a dead name whatever its urefs.
  ASSERT_EQ(right_mod_refs(&a_, d, MACH_PORT_RIGHT_DEAD_NAME, 1), KERN_INVALID_NAME);
}

TEST_F(IpcRight, DeallocateAndDestroy) {
  mach_port_name_t n = new_port(a_);
  Port* p = port_of(a_, n);
  mach_port_name_t nb = give(a_, n, MACH_MSG_TYPE_MAKE_SEND, b_);
  give(a_, n, MACH_MSG_TYPE_MAKE_SEND, b_);
  mach_port_name_t set = MACH_PORT_NULL;
  ASSERT_EQ(mach_port_allocate(&a_, MACH_PORT_RIGHT_PORT_SET, &set), KERN_SUCCESS);
  EXPECT_EQ(pset_count(), 1u);
  ASSERT_EQ(mach_port_move_member(&a_, n, set), KERN_SUCCESS);
  EXPECT_NE(p->pset, nullptr);
  IpcGuard g;
  // deallocate acts on send rights (and send-once, dead names) only.
  EXPECT_EQ(right_deallocate(&a_, n), KERN_INVALID_RIGHT);
  EXPECT_EQ(right_deallocate(&a_, set), KERN_INVALID_RIGHT);
  EXPECT_EQ(right_deallocate(&a_, 0x999), KERN_INVALID_NAME);
  EXPECT_EQ(right_deallocate(&b_, nb), KERN_SUCCESS);
  EXPECT_EQ(b_.lookup(nb)->urefs, 1u);
  // destroy takes every uref at once.
  EXPECT_EQ(right_destroy(&b_, nb), KERN_SUCCESS);
  EXPECT_EQ(b_.lookup(nb), nullptr);
  EXPECT_EQ(p->srights, 0u);
  EXPECT_EQ(right_destroy(&b_, nb), KERN_INVALID_NAME);
  // Destroying the set leaves its member alone, out of the set.
  EXPECT_EQ(right_destroy(&a_, set), KERN_SUCCESS);
  EXPECT_EQ(p->pset, nullptr);
  EXPECT_EQ(pset_count(), 0u);
  EXPECT_TRUE(p->active);
  EXPECT_EQ(right_mod_refs(&a_, n, MACH_PORT_RIGHT_PORT_SET, -1), KERN_INVALID_RIGHT);
}

// A receive right whose message queue holds rights: its death releases them all.
TEST_F(IpcRight, DestroyReleasesQueuedRights) {
  mach_port_name_t n = new_port(a_);
  mach_port_name_t other = new_port(b_);
  Port* po = port_of(b_, other);
  // A notification carrying a receive right (port-destroyed) sits on n's queue.
  ASSERT_EQ(request(b_, other, MACH_NOTIFY_PORT_DESTROYED, 0, a_, n), KERN_SUCCESS);
  mach_port_name_t ob = give(b_, other, MACH_MSG_TYPE_MAKE_SEND, a_);
  {
    IpcGuard g;
    EXPECT_EQ(right_destroy(&b_, other), KERN_SUCCESS);
  }
  EXPECT_TRUE(po->active);
  EXPECT_EQ(queued(a_, n), 1u);
  {
    IpcGuard g;
    EXPECT_EQ(right_destroy(&a_, n), KERN_SUCCESS);
  }
  // n's death destroyed the message, and with it the receive right it carried.
  EXPECT_EQ(kmsg_count(), 0u);
  EXPECT_EQ(type_of(a_, ob), kDead);
  EXPECT_EQ(port_count(), 0u);
}

// Two tasks exchange every kind of right, ask for every notification, and leave messages
// queued; destroying both spaces leaves no object and no page behind.
TEST_F(IpcRight, SpaceDestroyLeaksNothing) {
  const size_t pages = vm_page_stats().free_pages;
  std::mt19937 rng(42);
  std::vector<mach_port_name_t> ra, rb;
  for (int i = 0; i < 40; ++i) ra.push_back(new_port(a_)), rb.push_back(new_port(b_));
  mach_port_name_t set = MACH_PORT_NULL;
  ASSERT_EQ(mach_port_allocate(&a_, MACH_PORT_RIGHT_PORT_SET, &set), KERN_SUCCESS);
  for (int i = 0; i < 10; ++i) ASSERT_EQ(mach_port_move_member(&a_, ra[i], set), KERN_SUCCESS);
  for (int i = 0; i < 400; ++i) {
    bool ab = rng() & 1;
    IpcSpace& from = ab ? a_ : b_;
    IpcSpace& to = ab ? b_ : a_;
    auto& rs = ab ? ra : rb;
    mach_port_name_t n = rs[rng() % rs.size()];
    if (type_of(from, n) == 0 || !(type_of(from, n) & kRecv)) continue;
    switch (rng() % 6) {
      case 0:
      case 1:
        give(from, n, MACH_MSG_TYPE_MAKE_SEND, to);
        break;
      case 2:
        give(from, n, MACH_MSG_TYPE_MAKE_SEND_ONCE, to);
        break;
      case 3: {
        mach_port_name_t notify = (ab ? rb : ra)[rng() % 40];
        if (type_of(to, notify) & kRecv)
          request(from, n, rng() % 2 ? MACH_NOTIFY_NO_SENDERS : MACH_NOTIFY_PORT_DESTROYED, 0,
                  to, notify);
        break;
      }
      case 4: {
        mach_port_name_t sn = give(from, n, MACH_MSG_TYPE_MAKE_SEND, to);
        mach_port_name_t notify = (ab ? rb : ra)[rng() % 40];
        if (type_of(to, notify) & kRecv) request(to, sn, MACH_NOTIFY_DEAD_NAME, 0, to, notify);
        break;
      }
      default:
        if (rng() % 4 == 0) {
          IpcGuard g;
          right_destroy(&from, n);
        }
        break;
    }
  }
  EXPECT_GT(port_count(), 0u);
  {
    IpcGuard g;
    right_space_destroy(&a_);
  }
  // B's rights to A's ports are dead names now; its own ports hold what A sent it.
  {
    IpcGuard g;
    right_space_destroy(&b_);
  }
  expect_no_ipc_objects();
  EXPECT_EQ(a_.size(), 0u);
  EXPECT_EQ(b_.size(), 0u);
  EXPECT_EQ(a_.table_pages(), 0u);
  // Only the IPC zones' cached chunks remain; the tear-down gives those back too.
  size_t zone_pages = 0;
  for (const char* z : kIpcZones)
    if (Zone* zz = zone_named(z)) zone_pages += zz->stats().pages;
  EXPECT_EQ(vm_page_stats().free_pages + zone_pages, pages);
}

}  // namespace
