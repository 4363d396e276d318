/* Conformance tests of Mach IPC, written as any GNU Mach program would be: only <mach/...>
   headers, the MIG stubs of mach.defs, mach_port.defs, mach_host.defs and notify.defs, and
   mach_msg. No Mica trap. Every expectation here was checked on the real GNU Mach x86_64
   (trixie's 1.8+git20250702, tools/gnumach-boot.sh); comments marked "GNU Mach:" record
   behaviour that is easy to get wrong.

   Ports in messages are mach_port_name_inlined_t in the x86-64 ABI: 8 bytes each, with
   msgt_size 64; data is aligned to 8 (MACH_MSG_USER_ALIGNMENT). */
#include <mach.h>
#include <mach/host_info.h>
#include <mach/notify.h>
#include <mach/notify_server.h>
#include <mach/processor_info.h>
#include <mach/task_info.h>
#include <mach/thread_info.h>
#include <mach/thread_status.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <test/mach_util.h>
#include <test/test.h>

/* --- Helpers --- */

/* A name that is not in use in our space. */
static mach_port_t unused_name(mach_port_t start) {
  while (ptype(start) != KERN_INVALID_NAME)
    start++;
  return start;
}

/* The messages of these tests. */
typedef struct {
  mach_msg_header_t head;
  mach_msg_type_t type;
  mach_port_name_inlined_t port;
} port_msg_t;

typedef struct {
  mach_msg_header_t head;
  mach_msg_type_t type;
  char data[65536];
} data_msg_t;

typedef struct {
  mach_msg_header_t head;
  mach_msg_type_t type;
  vm_offset_t address;
} ool_msg_t;

static union {
  mach_msg_header_t head;
  port_msg_t port;
  data_msg_t data;
  mig_reply_header_t reply;
} rcv;

static data_msg_t snd;

static mach_msg_type_t type_desc(mach_msg_type_name_t name, unsigned size_bits,
                                 mach_msg_type_number_t number) {
  mach_msg_type_t t;
  memset(&t, 0, sizeof t);
  t.msgt_name = name;
  t.msgt_size = size_bits;
  t.msgt_number = number;
  t.msgt_inline = TRUE;
  return t;
}

/* Sends a header-only message. */
static mach_msg_return_t send_header(mach_port_t dest, mach_msg_type_name_t dest_type,
                                     mach_port_t reply, mach_msg_type_name_t reply_type,
                                     mach_msg_id_t id, mach_msg_option_t option,
                                     mach_msg_timeout_t timeout) {
  mach_msg_header_t h;
  memset(&h, 0, sizeof h);
  h.msgh_bits = MACH_MSGH_BITS(dest_type, reply_type);
  h.msgh_size = sizeof h;
  h.msgh_remote_port = dest;
  h.msgh_local_port = reply;
  h.msgh_id = id;
  return mach_msg(&h, MACH_SEND_MSG | option, sizeof h, 0, MACH_PORT_NULL, timeout,
                  MACH_PORT_NULL);
}

/* Sends one port right (disposition type) to dest, which we hold the receive right of. */
static mach_msg_return_t send_port(mach_port_t dest, mach_port_t port,
                                   mach_msg_type_name_t type) {
  port_msg_t m;
  memset(&m, 0, sizeof m);
  m.head.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
  m.head.msgh_size = sizeof m;
  m.head.msgh_remote_port = dest;
  m.head.msgh_id = 1000 + (int)type;
  m.type = type_desc(type, 64, 1);
  m.port.name = port;
  return mach_msg(&m.head, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL);
}

/* Receives into rcv from name, waiting at most timeout ms. */
static mach_msg_return_t receive(mach_port_t name, mach_msg_timeout_t timeout) {
  memset(&rcv.head, 0, sizeof rcv.head);
  return mach_msg(&rcv.head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof rcv, name, timeout,
                  MACH_PORT_NULL);
}

/* --- Port names and rights --- */

TEST(port_allocate_receive) {
  mach_port_t p = MACH_PORT_NULL;
  KR_OK(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &p));
  EXPECT(MACH_PORT_VALID(p));
  EXPECT_EQ(ptype(p), MACH_PORT_TYPE_RECEIVE);
  EXPECT_EQ(urefs(p, MACH_PORT_RIGHT_RECEIVE), 1);
  EXPECT_EQ(urefs(p, MACH_PORT_RIGHT_SEND), 0);
  destroy(p);
  EXPECT_EQ(ptype(p), KERN_INVALID_NAME);
}

TEST(port_allocate_port_set) {
  mach_port_t s = MACH_PORT_NULL;
  KR_OK(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_PORT_SET, &s));
  EXPECT_EQ(ptype(s), MACH_PORT_TYPE_PORT_SET);
  EXPECT_EQ(urefs(s, MACH_PORT_RIGHT_PORT_SET), 1);
  destroy(s);
  EXPECT_EQ(ptype(s), KERN_INVALID_NAME);
}

TEST(port_allocate_dead_name) {
  mach_port_t d = MACH_PORT_NULL;
  KR_OK(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_DEAD_NAME, &d));
  EXPECT_EQ(ptype(d), MACH_PORT_TYPE_DEAD_NAME);
  EXPECT_EQ(urefs(d, MACH_PORT_RIGHT_DEAD_NAME), 1);
  destroy(d);
}

TEST(port_allocate_bad_right) {
  mach_port_t p = MACH_PORT_NULL;
  // Only receive rights, port sets and dead names can be allocated.
  EXPECT_EQ(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_SEND, &p), KERN_INVALID_VALUE);
  EXPECT_EQ(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_NUMBER, &p),
            KERN_INVALID_VALUE);
}

TEST(port_names_and_types) {
  mach_port_t r = receive_and_send(), s = MACH_PORT_NULL, d = MACH_PORT_NULL;
  KR_OK(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_PORT_SET, &s));
  KR_OK(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_DEAD_NAME, &d));
  mach_port_name_array_t names = NULL;
  mach_port_type_array_t types = NULL;
  mach_msg_type_number_t nnames = 0, ntypes = 0;
  KR_OK(mach_port_names(mach_task_self(), &names, &nnames, &types, &ntypes));
  EXPECT_EQ(nnames, ntypes);
  int found = 0;
  for (mach_msg_type_number_t i = 0; i < nnames; i++) {
    if (names[i] == r) {
      EXPECT_EQ(types[i], MACH_PORT_TYPE_SEND_RECEIVE);
      found++;
    } else if (names[i] == s) {
      EXPECT_EQ(types[i], MACH_PORT_TYPE_PORT_SET);
      found++;
    } else if (names[i] == d) {
      EXPECT_EQ(types[i], MACH_PORT_TYPE_DEAD_NAME);
      found++;
    }
  }
  EXPECT_EQ(found, 3);
  // The task's own port is among the names: the task holds a send right to itself.
  bool task_found = false;
  for (mach_msg_type_number_t i = 0; i < nnames; i++)
    if (names[i] == mach_task_self())
      task_found = (types[i] & MACH_PORT_TYPE_SEND) != 0;
  EXPECT(task_found);
  vm_deallocate(mach_task_self(), (vm_address_t)names, nnames * sizeof *names);
  vm_deallocate(mach_task_self(), (vm_address_t)types, ntypes * sizeof *types);
  destroy(r);
  destroy(s);
  destroy(d);
}

TEST(insert_right_make_send) {
  mach_port_t p = receive_right();
  KR_OK(mach_port_insert_right(mach_task_self(), p, p, MACH_MSG_TYPE_MAKE_SEND));
  EXPECT_EQ(ptype(p), MACH_PORT_TYPE_SEND_RECEIVE);
  EXPECT_EQ(urefs(p, MACH_PORT_RIGHT_SEND), 1);
  // Each make-send adds a user reference to the same name.
  KR_OK(mach_port_insert_right(mach_task_self(), p, p, MACH_MSG_TYPE_MAKE_SEND));
  EXPECT_EQ(urefs(p, MACH_PORT_RIGHT_SEND), 2);
  EXPECT_EQ(status_of(p).mps_mscount, 2);
  // The same port under a second name: a space holds each port under one name only.
  mach_port_t other = unused_name(0x5000);
  EXPECT_EQ(mach_port_insert_right(mach_task_self(), other, p, MACH_MSG_TYPE_MAKE_SEND),
            KERN_RIGHT_EXISTS);
  // A send right copied from a name that has none. GNU Mach: the right is copied in as
  // a message would carry it, so the error is a message error, MACH_SEND_INVALID_RIGHT.
  mach_port_t q = receive_right();
  EXPECT_EQ(mach_port_insert_right(mach_task_self(), other, q, MACH_MSG_TYPE_COPY_SEND),
            MACH_SEND_INVALID_RIGHT);
  destroy(p);
  destroy(q);
}

TEST(mod_refs_send) {
  mach_port_t p = receive_and_send();
  KR_OK(mach_port_mod_refs(mach_task_self(), p, MACH_PORT_RIGHT_SEND, 2));
  EXPECT_EQ(urefs(p, MACH_PORT_RIGHT_SEND), 3);
  KR_OK(mach_port_mod_refs(mach_task_self(), p, MACH_PORT_RIGHT_SEND, -3));
  EXPECT_EQ(urefs(p, MACH_PORT_RIGHT_SEND), 0);
  EXPECT_EQ(ptype(p), MACH_PORT_TYPE_RECEIVE);
  // GNU Mach: dropping a send reference that is not there is KERN_INVALID_RIGHT, and a
  // receive right cannot gain references (KERN_INVALID_VALUE).
  EXPECT_EQ(mach_port_mod_refs(mach_task_self(), p, MACH_PORT_RIGHT_SEND, -1),
            KERN_INVALID_RIGHT);
  EXPECT_EQ(mach_port_mod_refs(mach_task_self(), p, MACH_PORT_RIGHT_RECEIVE, 1),
            KERN_INVALID_VALUE);
  EXPECT_EQ(mach_port_get_refs(mach_task_self(), p, MACH_PORT_RIGHT_NUMBER, &(mach_port_urefs_t){0}),
            KERN_INVALID_VALUE);
  // Dropping the receive right's one reference destroys the port.
  KR_OK(mach_port_mod_refs(mach_task_self(), p, MACH_PORT_RIGHT_RECEIVE, -1));
  EXPECT_EQ(ptype(p), KERN_INVALID_NAME);
}

TEST(dead_name_refs) {
  mach_port_t d = MACH_PORT_NULL;
  KR_OK(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_DEAD_NAME, &d));
  KR_OK(mach_port_mod_refs(mach_task_self(), d, MACH_PORT_RIGHT_DEAD_NAME, 4));
  EXPECT_EQ(urefs(d, MACH_PORT_RIGHT_DEAD_NAME), 5);
  // mach_port_deallocate drops one reference of a dead name too.
  KR_OK(mach_port_deallocate(mach_task_self(), d));
  EXPECT_EQ(urefs(d, MACH_PORT_RIGHT_DEAD_NAME), 4);
  EXPECT_EQ(urefs(d, MACH_PORT_RIGHT_SEND), 0);
  KR_OK(mach_port_mod_refs(mach_task_self(), d, MACH_PORT_RIGHT_DEAD_NAME, -4));
  EXPECT_EQ(ptype(d), KERN_INVALID_NAME);
}

TEST(port_deallocate) {
  mach_port_t p = receive_and_send();
  KR_OK(mach_port_mod_refs(mach_task_self(), p, MACH_PORT_RIGHT_SEND, 1));
  KR_OK(mach_port_deallocate(mach_task_self(), p));
  EXPECT_EQ(urefs(p, MACH_PORT_RIGHT_SEND), 1);
  KR_OK(mach_port_deallocate(mach_task_self(), p));
  EXPECT_EQ(ptype(p), MACH_PORT_TYPE_RECEIVE);
  // No send right left: deallocate does not touch receive rights.
  EXPECT_EQ(mach_port_deallocate(mach_task_self(), p), KERN_INVALID_RIGHT);
  EXPECT_EQ(ptype(p), MACH_PORT_TYPE_RECEIVE);
  EXPECT_EQ(mach_port_deallocate(mach_task_self(), unused_name(0x5100)), KERN_INVALID_NAME);
  destroy(p);
}

TEST(port_destroy) {
  mach_port_t p = receive_and_send();
  KR_OK(mach_port_mod_refs(mach_task_self(), p, MACH_PORT_RIGHT_SEND, 3));
  KR_OK(send_header(p, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, 7, 0, 0));
  // Destroy takes every right under the name, with the queued message.
  KR_OK(mach_port_destroy(mach_task_self(), p));
  EXPECT_EQ(ptype(p), KERN_INVALID_NAME);
  EXPECT_EQ(mach_port_destroy(mach_task_self(), p), KERN_INVALID_NAME);
}

TEST(port_rename) {
  mach_port_t p = receive_and_send();
  mach_port_t to = unused_name(0x6000);
  KR_OK(mach_port_rename(mach_task_self(), p, to));
  EXPECT_EQ(ptype(p), KERN_INVALID_NAME);
  EXPECT_EQ(ptype(to), MACH_PORT_TYPE_SEND_RECEIVE);
  // Messages reach the port under its new name.
  KR_OK(send_header(to, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, 11, 0, 0));
  ASSERT_EQ(receive(to, 1000), MACH_MSG_SUCCESS);
  EXPECT_EQ(rcv.head.msgh_id, 11);
  EXPECT_EQ(rcv.head.msgh_local_port, to);
  mach_port_t q = receive_right();
  EXPECT_EQ(mach_port_rename(mach_task_self(), q, to), KERN_NAME_EXISTS);
  EXPECT_EQ(mach_port_rename(mach_task_self(), q, MACH_PORT_NULL), KERN_INVALID_VALUE);
  destroy(to);
  destroy(q);
}

TEST(port_allocate_name) {
  mach_port_t name = unused_name(0x7000);
  KR_OK(mach_port_allocate_name(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, name));
  EXPECT_EQ(ptype(name), MACH_PORT_TYPE_RECEIVE);
  EXPECT_EQ(mach_port_allocate_name(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, name),
            KERN_NAME_EXISTS);
  EXPECT_EQ(mach_port_allocate_name(mach_task_self(), MACH_PORT_RIGHT_DEAD_NAME, name),
            KERN_NAME_EXISTS);
  EXPECT_EQ(mach_port_allocate_name(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, MACH_PORT_NULL),
            KERN_INVALID_VALUE);
  EXPECT_EQ(mach_port_allocate_name(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, MACH_PORT_DEAD),
            KERN_INVALID_VALUE);
  mach_port_t set = unused_name(name + 1);
  KR_OK(mach_port_allocate_name(mach_task_self(), MACH_PORT_RIGHT_PORT_SET, set));
  EXPECT_EQ(ptype(set), MACH_PORT_TYPE_PORT_SET);
  destroy(name);
  destroy(set);
}

TEST(receive_status_fields) {
  mach_port_t p = receive_right();
  mach_port_status_t st = status_of(p);
  EXPECT_EQ(st.mps_pset, MACH_PORT_NULL);
  EXPECT_EQ(st.mps_seqno, 0);
  EXPECT_EQ(st.mps_mscount, 0);
  EXPECT_EQ(st.mps_qlimit, MACH_PORT_QLIMIT_DEFAULT);
  EXPECT_EQ(st.mps_msgcount, 0);
  EXPECT_EQ(st.mps_sorights, 0);
  EXPECT_EQ(st.mps_srights, FALSE);
  EXPECT_EQ(st.mps_pdrequest, FALSE);
  EXPECT_EQ(st.mps_nsrequest, FALSE);

  KR_OK(mach_port_insert_right(mach_task_self(), p, p, MACH_MSG_TYPE_MAKE_SEND));
  KR_OK(send_header(p, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, 1, 0, 0));
  KR_OK(send_header(p, MACH_MSG_TYPE_MAKE_SEND_ONCE, MACH_PORT_NULL, 0, 2, 0, 0));
  st = status_of(p);
  EXPECT_EQ(st.mps_mscount, 1);
  EXPECT_EQ(st.mps_srights, TRUE);
  EXPECT_EQ(st.mps_msgcount, 2);
  // GNU Mach: the send-once right made for the second message is counted while the
  // message (whose destination it is) waits in the queue; receiving it uses the right up.
  EXPECT_EQ(st.mps_sorights, 1);
  ASSERT_EQ(receive(p, 1000), MACH_MSG_SUCCESS);
  EXPECT_EQ(rcv.head.msgh_seqno, 0);
  EXPECT_EQ(MACH_MSGH_BITS_LOCAL(rcv.head.msgh_bits), MACH_MSG_TYPE_PORT_SEND);
  ASSERT_EQ(receive(p, 1000), MACH_MSG_SUCCESS);
  EXPECT_EQ(rcv.head.msgh_seqno, 1);
  EXPECT_EQ(MACH_MSGH_BITS_LOCAL(rcv.head.msgh_bits), MACH_MSG_TYPE_PORT_SEND_ONCE);
  st = status_of(p);
  EXPECT_EQ(st.mps_seqno, 2);
  EXPECT_EQ(st.mps_msgcount, 0);
  EXPECT_EQ(st.mps_sorights, 0);
  // A send-once right in our space counts.
  mach_port_t so = MACH_PORT_NULL;
  mach_msg_type_name_t so_type = 0;
  KR_OK(mach_port_extract_right(mach_task_self(), p, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so, &so_type));
  EXPECT_EQ(status_of(p).mps_sorights, 1);
  destroy(p);
  // The send-once right's port died: its name is now a dead name.
  EXPECT_EQ(ptype(so), MACH_PORT_TYPE_DEAD_NAME);
  destroy(so);
}

TEST(set_qlimit_mscount_seqno) {
  mach_port_t p = receive_and_send();
  KR_OK(mach_port_set_qlimit(mach_task_self(), p, 1));
  EXPECT_EQ(status_of(p).mps_qlimit, 1);
  KR_OK(mach_port_set_qlimit(mach_task_self(), p, MACH_PORT_QLIMIT_MAX));
  EXPECT_EQ(status_of(p).mps_qlimit, MACH_PORT_QLIMIT_MAX);
  EXPECT_EQ(mach_port_set_qlimit(mach_task_self(), p, MACH_PORT_QLIMIT_MAX + 1),
            KERN_INVALID_VALUE);
  KR_OK(mach_port_set_mscount(mach_task_self(), p, 7));
  EXPECT_EQ(status_of(p).mps_mscount, 7);
  KR_OK(mach_port_set_seqno(mach_task_self(), p, 42));
  EXPECT_EQ(status_of(p).mps_seqno, 42);
  KR_OK(send_header(p, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, 1, 0, 0));
  ASSERT_EQ(receive(p, 1000), MACH_MSG_SUCCESS);
  EXPECT_EQ(rcv.head.msgh_seqno, 42);
  EXPECT_EQ(status_of(p).mps_seqno, 43);
  // These work on receive rights only.
  mach_port_t s = MACH_PORT_NULL;
  KR_OK(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_PORT_SET, &s));
  EXPECT_EQ(mach_port_set_qlimit(mach_task_self(), s, 1), KERN_INVALID_RIGHT);
  destroy(s);
  destroy(p);
}

TEST(port_set_receive) {
  mach_port_t set = MACH_PORT_NULL;
  KR_OK(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_PORT_SET, &set));
  mach_port_t a = receive_and_send(), b = receive_and_send();
  KR_OK(mach_port_move_member(mach_task_self(), a, set));
  KR_OK(mach_port_move_member(mach_task_self(), b, set));
  EXPECT_EQ(status_of(a).mps_pset, set);
  mach_port_name_array_t members = NULL;
  mach_msg_type_number_t n = 0;
  KR_OK(mach_port_get_set_status(mach_task_self(), set, &members, &n));
  EXPECT_EQ(n, 2);
  if (n == 2)
    EXPECT((members[0] == a && members[1] == b) || (members[0] == b && members[1] == a));
  vm_deallocate(mach_task_self(), (vm_address_t)members, n * sizeof *members);

  // A message to a member is received from the set, which names the member.
  EXPECT_EQ(receive(set, 0), MACH_RCV_TIMED_OUT);
  KR_OK(send_header(b, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, 22, 0, 0));
  ASSERT_EQ(receive(set, 1000), MACH_MSG_SUCCESS);
  EXPECT_EQ(rcv.head.msgh_local_port, b);
  EXPECT_EQ(rcv.head.msgh_id, 22);
  // GNU Mach: a member cannot be received from directly while it is in a set.
  KR_OK(send_header(a, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, 23, 0, 0));
  EXPECT_EQ(receive(a, 0), MACH_RCV_IN_SET);
  // Out of the set, it can again; the set does not see it any more.
  KR_OK(mach_port_move_member(mach_task_self(), a, MACH_PORT_NULL));
  EXPECT_EQ(status_of(a).mps_pset, MACH_PORT_NULL);
  EXPECT_EQ(receive(set, 0), MACH_RCV_TIMED_OUT);
  ASSERT_EQ(receive(a, 0), MACH_MSG_SUCCESS);
  EXPECT_EQ(rcv.head.msgh_id, 23);
  // Only receive rights move into sets.
  mach_port_t d = MACH_PORT_NULL;
  KR_OK(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_DEAD_NAME, &d));
  EXPECT_EQ(mach_port_move_member(mach_task_self(), d, set), KERN_INVALID_RIGHT);
  // Destroying the set frees its members.
  destroy(set);
  EXPECT_EQ(status_of(b).mps_pset, MACH_PORT_NULL);
  destroy(a);
  destroy(b);
  destroy(d);
}

/* --- Notifications (notify.defs, served by notify_server) --- */

static struct {
  int calls;
  mach_msg_id_t kind;
  mach_port_t notify;
  mach_port_name_t name;
  mach_port_mscount_t mscount;
} note;

static kern_return_t record(mach_msg_id_t kind, mach_port_t notify, mach_port_name_t name) {
  note.calls++;
  note.kind = kind;
  note.notify = notify;
  note.name = name;
  return KERN_SUCCESS;
}

kern_return_t do_mach_notify_port_deleted(mach_port_t notify, mach_port_name_t name) {
  return record(MACH_NOTIFY_PORT_DELETED, notify, name);
}
kern_return_t do_mach_notify_msg_accepted(mach_port_t notify, mach_port_name_t name) {
  return record(MACH_NOTIFY_MSG_ACCEPTED, notify, name);
}
kern_return_t do_mach_notify_port_destroyed(mach_port_t notify, mach_port_t rights) {
  return record(MACH_NOTIFY_PORT_DESTROYED, notify, rights);
}
kern_return_t do_mach_notify_no_senders(mach_port_t notify, mach_port_mscount_t mscount) {
  note.mscount = mscount;
  return record(MACH_NOTIFY_NO_SENDERS, notify, MACH_PORT_NULL);
}
kern_return_t do_mach_notify_send_once(mach_port_t notify) {
  return record(MACH_NOTIFY_SEND_ONCE, notify, MACH_PORT_NULL);
}
kern_return_t do_mach_notify_dead_name(mach_port_t notify, mach_port_name_t name) {
  return record(MACH_NOTIFY_DEAD_NAME, notify, name);
}

/* Serves one notification on port (waiting at most 2 s) through notify_server. */
static mach_msg_return_t serve_notification(mach_port_t port) {
  memset(&note, 0, sizeof note);
  return mach_msg_server_once(notify_server, 0, port, MACH_RCV_TIMEOUT, 2000);
}

TEST(notify_no_senders) {
  mach_port_t p = receive_and_send();
  mach_port_t n = receive_right();
  mach_port_t previous = 1;
  KR_OK(mach_port_request_notification(mach_task_self(), p, MACH_NOTIFY_NO_SENDERS, 1, n,
                                       MACH_MSG_TYPE_MAKE_SEND_ONCE, &previous));
  EXPECT_EQ(previous, MACH_PORT_NULL);
  EXPECT_EQ(status_of(p).mps_nsrequest, TRUE);
  EXPECT_EQ(receive(n, 0), MACH_RCV_TIMED_OUT);  // senders remain
  KR_OK(mach_port_deallocate(mach_task_self(), p));
  ASSERT_EQ(serve_notification(n), MACH_MSG_SUCCESS);
  EXPECT_EQ(note.calls, 1);
  EXPECT_EQ(note.kind, MACH_NOTIFY_NO_SENDERS);
  EXPECT_EQ(note.notify, n);
  EXPECT_EQ(note.mscount, 1);
  EXPECT_EQ(status_of(p).mps_nsrequest, FALSE);
  destroy(p);
  destroy(n);
}

TEST(notify_no_senders_message) {
  // The same notification read by hand: id 0106, the make-send count as an integer.
  mach_port_t p = receive_and_send();
  mach_port_t n = receive_right();
  mach_port_t previous;
  KR_OK(mach_port_request_notification(mach_task_self(), p, MACH_NOTIFY_NO_SENDERS, 0, n,
                                       MACH_MSG_TYPE_MAKE_SEND_ONCE, &previous));
  KR_OK(mach_port_insert_right(mach_task_self(), p, p, MACH_MSG_TYPE_MAKE_SEND));
  KR_OK(mach_port_mod_refs(mach_task_self(), p, MACH_PORT_RIGHT_SEND, -2));
  ASSERT_EQ(receive(n, 2000), MACH_MSG_SUCCESS);
  const mach_no_senders_notification_t *m = (const void *)&rcv;
  EXPECT_EQ(m->not_header.msgh_id, MACH_NOTIFY_NO_SENDERS);
  EXPECT_EQ(m->not_header.msgh_id, 0106);
  EXPECT_EQ(m->not_header.msgh_size, sizeof *m);
  EXPECT_EQ(m->not_header.msgh_local_port, n);
  EXPECT_EQ(m->not_header.msgh_remote_port, MACH_PORT_NULL);
  EXPECT_EQ(MACH_MSGH_BITS_LOCAL(m->not_header.msgh_bits), MACH_MSG_TYPE_PORT_SEND_ONCE);
  EXPECT_EQ(m->not_type.msgt_name, MACH_MSG_TYPE_INTEGER_32);
  EXPECT_EQ(m->not_count, 2);
  destroy(p);
  destroy(n);
}

TEST(notify_dead_name) {
  // The receive right lives in a second task, our send right came out with extract_right.
  task_t child = MACH_PORT_NULL;
  KR_OK(task_create(mach_task_self(), FALSE, &child));
  mach_port_t in_child = MACH_PORT_NULL;
  KR_OK(mach_port_allocate(child, MACH_PORT_RIGHT_RECEIVE, &in_child));
  mach_port_t send = MACH_PORT_NULL;
  mach_msg_type_name_t send_type = 0;
  KR_OK(mach_port_extract_right(child, in_child, MACH_MSG_TYPE_MAKE_SEND, &send, &send_type));
  EXPECT_EQ(send_type, MACH_MSG_TYPE_PORT_SEND);
  EXPECT_EQ(ptype(send), MACH_PORT_TYPE_SEND);
  mach_port_t n = receive_right();
  mach_port_t previous = 1;
  KR_OK(mach_port_request_notification(mach_task_self(), send, MACH_NOTIFY_DEAD_NAME, 0, n,
                                       MACH_MSG_TYPE_MAKE_SEND_ONCE, &previous));
  EXPECT_EQ(previous, MACH_PORT_NULL);
  EXPECT_EQ(ptype(send), MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_DNREQUEST);

  KR_OK(mach_port_destroy(child, in_child));
  ASSERT_EQ(receive(n, 2000), MACH_MSG_SUCCESS);
  const mach_dead_name_notification_t *m = (const void *)&rcv;
  EXPECT_EQ(m->not_header.msgh_id, MACH_NOTIFY_DEAD_NAME);
  EXPECT_EQ(m->not_header.msgh_id, 0110);
  EXPECT_EQ(m->not_header.msgh_size, sizeof *m);
  EXPECT_EQ(m->not_header.msgh_local_port, n);
  EXPECT_EQ(m->not_type.msgt_name, MACH_MSG_TYPE_PORT_NAME);
  EXPECT_EQ(m->not_port, send);
  // GNU Mach: the name is dead, and the notification carries one more user reference.
  EXPECT_EQ(ptype(send), MACH_PORT_TYPE_DEAD_NAME);
  EXPECT_EQ(urefs(send, MACH_PORT_RIGHT_DEAD_NAME), 2);
  // Sending to it now fails.
  EXPECT_EQ(send_header(send, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, 1, 0, 0),
            MACH_SEND_INVALID_DEST);
  KR_OK(mach_port_mod_refs(mach_task_self(), send, MACH_PORT_RIGHT_DEAD_NAME, -2));
  EXPECT_EQ(ptype(send), KERN_INVALID_NAME);
  destroy(n);
  KR_OK(task_terminate(child));
}

TEST(notify_dead_name_server) {
  // As above, through notify_server: the dead-name routine gets the notify port and name.
  task_t child = MACH_PORT_NULL;
  KR_OK(task_create(mach_task_self(), FALSE, &child));
  mach_port_t in_child = MACH_PORT_NULL;
  KR_OK(mach_port_allocate(child, MACH_PORT_RIGHT_RECEIVE, &in_child));
  mach_port_t send = MACH_PORT_NULL;
  mach_msg_type_name_t send_type = 0;
  KR_OK(mach_port_extract_right(child, in_child, MACH_MSG_TYPE_MAKE_SEND, &send, &send_type));
  mach_port_t n = receive_right();
  mach_port_t previous;
  KR_OK(mach_port_request_notification(mach_task_self(), send, MACH_NOTIFY_DEAD_NAME, 0, n,
                                       MACH_MSG_TYPE_MAKE_SEND_ONCE, &previous));
  // Ending the task destroys its receive right.
  KR_OK(task_terminate(child));
  ASSERT_EQ(serve_notification(n), MACH_MSG_SUCCESS);
  EXPECT_EQ(note.calls, 1);
  EXPECT_EQ(note.kind, MACH_NOTIFY_DEAD_NAME);
  EXPECT_EQ(note.notify, n);
  EXPECT_EQ(note.name, send);
  EXPECT_EQ(ptype(send), MACH_PORT_TYPE_DEAD_NAME);
  destroy(send);
  destroy(n);
}

TEST(extract_right) {
  task_t child = MACH_PORT_NULL;
  KR_OK(task_create(mach_task_self(), FALSE, &child));
  mach_port_t in_child = MACH_PORT_NULL;
  KR_OK(mach_port_allocate(child, MACH_PORT_RIGHT_RECEIVE, &in_child));
  // A message waits in the child's port; it moves with the receive right.
  mach_port_t send = MACH_PORT_NULL;
  mach_msg_type_name_t t = 0;
  KR_OK(mach_port_extract_right(child, in_child, MACH_MSG_TYPE_MAKE_SEND, &send, &t));
  KR_OK(send_header(send, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, 33, 0, 0));
  mach_port_t recv = MACH_PORT_NULL;
  KR_OK(mach_port_extract_right(child, in_child, MACH_MSG_TYPE_MOVE_RECEIVE, &recv, &t));
  EXPECT_EQ(t, MACH_MSG_TYPE_PORT_RECEIVE);
  // Our send right and the received receive right share one name.
  EXPECT_EQ(recv, send);
  EXPECT_EQ(ptype(recv), MACH_PORT_TYPE_SEND_RECEIVE);
  mach_port_type_t child_type = 0;
  EXPECT_EQ(mach_port_type(child, in_child, &child_type), KERN_INVALID_NAME);
  ASSERT_EQ(receive(recv, 1000), MACH_MSG_SUCCESS);
  EXPECT_EQ(rcv.head.msgh_id, 33);
  // Extract a send-once right in our own space: it gets a name of its own.
  mach_port_t so = MACH_PORT_NULL;
  KR_OK(mach_port_extract_right(mach_task_self(), recv, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so, &t));
  EXPECT_EQ(t, MACH_MSG_TYPE_PORT_SEND_ONCE);
  EXPECT_NE(so, recv);
  EXPECT_EQ(ptype(so), MACH_PORT_TYPE_SEND_ONCE);
  EXPECT_EQ(mach_port_extract_right(child, in_child, MACH_MSG_TYPE_MAKE_SEND, &send, &t),
            KERN_INVALID_NAME);
  EXPECT_EQ(mach_port_extract_right(mach_task_self(), recv, MACH_MSG_TYPE_INTEGER_32, &send, &t),
            KERN_INVALID_VALUE);
  KR_OK(task_terminate(child));
  destroy(so);
  destroy(recv);
}

/* --- Messages --- */

TEST(inline_data_sizes) {
  static const unsigned sizes[] = {0, 1, 7, 8, 9, 100, 1000, 4096, 8000, 65536};
  mach_port_t p = receive_and_send();
  for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    unsigned n = sizes[i];
    mach_msg_size_t size = sizeof(mach_msg_header_t) + sizeof(mach_msg_type_t) + ((n + 7) & ~7u);
    memset(&snd, 0, sizeof snd);
    snd.head.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
    snd.head.msgh_size = size;
    snd.head.msgh_remote_port = p;
    snd.head.msgh_id = 500 + (int)i;
    snd.type = type_desc(MACH_MSG_TYPE_BYTE, 8, n);
    for (unsigned j = 0; j < n; j++)
      snd.data[j] = (char)(j * 7 + i);
    mach_msg_return_t mr =
        mach_msg(&snd.head, MACH_SEND_MSG, size, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL);
    if (mr != MACH_MSG_SUCCESS) {
      test_fail(__FILE__, __LINE__, "send of %u bytes: 0x%x", n, mr);
      continue;
    }
    ASSERT_EQ(receive(p, 1000), MACH_MSG_SUCCESS);
    EXPECT_EQ(rcv.head.msgh_size, size);
    EXPECT_EQ(rcv.head.msgh_id, 500 + (int)i);
    EXPECT_EQ(rcv.head.msgh_local_port, p);
    EXPECT_EQ(rcv.head.msgh_remote_port, MACH_PORT_NULL);
    EXPECT_EQ(MACH_MSGH_BITS_LOCAL(rcv.head.msgh_bits), MACH_MSG_TYPE_PORT_SEND);
    EXPECT_EQ(rcv.data.type.msgt_name, MACH_MSG_TYPE_BYTE);
    EXPECT_EQ(rcv.data.type.msgt_number, n);
    EXPECT(memcmp(rcv.data.data, snd.data, n) == 0);
  }
  EXPECT_EQ(status_of(p).mps_msgcount, 0);
  destroy(p);
}

TEST(port_copy_send) {
  mach_port_t dest = receive_right(), p = receive_and_send();
  KR_OK(send_port(dest, p, MACH_MSG_TYPE_COPY_SEND));
  EXPECT_EQ(urefs(p, MACH_PORT_RIGHT_SEND), 1);
  ASSERT_EQ(receive(dest, 1000), MACH_MSG_SUCCESS);
  EXPECT(rcv.head.msgh_bits & MACH_MSGH_BITS_COMPLEX);
  EXPECT_EQ(rcv.port.type.msgt_name, MACH_MSG_TYPE_PORT_SEND);
  EXPECT_EQ(rcv.port.type.msgt_size, 64);
  EXPECT_EQ(rcv.port.type.msgt_number, 1);
  EXPECT_EQ(rcv.port.port.name, p);
  EXPECT_EQ(urefs(p, MACH_PORT_RIGHT_SEND), 2);
  destroy(dest);
  destroy(p);
}

TEST(port_make_send) {
  mach_port_t dest = receive_right(), p = receive_right();
  KR_OK(send_port(dest, p, MACH_MSG_TYPE_MAKE_SEND));
  EXPECT_EQ(ptype(p), MACH_PORT_TYPE_RECEIVE);  // the right is in the message
  EXPECT_EQ(status_of(p).mps_mscount, 1);
  ASSERT_EQ(receive(dest, 1000), MACH_MSG_SUCCESS);
  EXPECT_EQ(rcv.port.type.msgt_name, MACH_MSG_TYPE_PORT_SEND);
  EXPECT_EQ(rcv.port.port.name, p);
  EXPECT_EQ(ptype(p), MACH_PORT_TYPE_SEND_RECEIVE);
  EXPECT_EQ(urefs(p, MACH_PORT_RIGHT_SEND), 1);
  // Without the receive right there is nothing to make a send right from.
  mach_port_t d = MACH_PORT_NULL;
  KR_OK(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_DEAD_NAME, &d));
  EXPECT_EQ(send_port(dest, d, MACH_MSG_TYPE_MAKE_SEND), MACH_SEND_INVALID_RIGHT);
  destroy(dest);
  destroy(p);
  destroy(d);
}

TEST(port_move_send) {
  mach_port_t dest = receive_right(), p = receive_and_send();
  KR_OK(send_port(dest, p, MACH_MSG_TYPE_MOVE_SEND));
  EXPECT_EQ(ptype(p), MACH_PORT_TYPE_RECEIVE);
  EXPECT_EQ(urefs(p, MACH_PORT_RIGHT_SEND), 0);
  ASSERT_EQ(receive(dest, 1000), MACH_MSG_SUCCESS);
  EXPECT_EQ(rcv.port.type.msgt_name, MACH_MSG_TYPE_PORT_SEND);
  EXPECT_EQ(rcv.port.port.name, p);
  EXPECT_EQ(urefs(p, MACH_PORT_RIGHT_SEND), 1);
  // Moving one of two references leaves the other.
  KR_OK(mach_port_mod_refs(mach_task_self(), p, MACH_PORT_RIGHT_SEND, 1));
  KR_OK(send_port(dest, p, MACH_MSG_TYPE_MOVE_SEND));
  EXPECT_EQ(urefs(p, MACH_PORT_RIGHT_SEND), 1);
  ASSERT_EQ(receive(dest, 1000), MACH_MSG_SUCCESS);
  EXPECT_EQ(urefs(p, MACH_PORT_RIGHT_SEND), 2);
  destroy(dest);
  destroy(p);
}

TEST(port_send_once_rights) {
  mach_port_t dest = receive_right(), p = receive_right();
  KR_OK(send_port(dest, p, MACH_MSG_TYPE_MAKE_SEND_ONCE));
  EXPECT_EQ(status_of(p).mps_sorights, 1);
  ASSERT_EQ(receive(dest, 1000), MACH_MSG_SUCCESS);
  EXPECT_EQ(rcv.port.type.msgt_name, MACH_MSG_TYPE_PORT_SEND_ONCE);
  mach_port_t so = rcv.port.port.name;
  // A send-once right always has a name of its own, even beside the receive right.
  EXPECT_NE(so, p);
  EXPECT_EQ(ptype(so), MACH_PORT_TYPE_SEND_ONCE);
  EXPECT_EQ(urefs(so, MACH_PORT_RIGHT_SEND_ONCE), 1);
  EXPECT_EQ(ptype(p), MACH_PORT_TYPE_RECEIVE);

  KR_OK(send_port(dest, so, MACH_MSG_TYPE_MOVE_SEND_ONCE));
  EXPECT_EQ(ptype(so), KERN_INVALID_NAME);
  ASSERT_EQ(receive(dest, 1000), MACH_MSG_SUCCESS);
  EXPECT_EQ(rcv.port.type.msgt_name, MACH_MSG_TYPE_PORT_SEND_ONCE);
  mach_port_t so2 = rcv.port.port.name;
  EXPECT_EQ(ptype(so2), MACH_PORT_TYPE_SEND_ONCE);
  EXPECT_EQ(status_of(p).mps_sorights, 1);
  // A send-once right given up unused sends a send-once notification (0107) to its port,
  // through the right itself: it is counted until the notification is received.
  KR_OK(mach_port_deallocate(mach_task_self(), so2));
  EXPECT_EQ(ptype(so2), KERN_INVALID_NAME);
  EXPECT_EQ(status_of(p).mps_sorights, 1);
  ASSERT_EQ(receive(p, 1000), MACH_MSG_SUCCESS);
  EXPECT_EQ(rcv.head.msgh_id, MACH_NOTIFY_SEND_ONCE);
  EXPECT_EQ(rcv.head.msgh_size, sizeof(mach_msg_header_t));
  EXPECT_EQ(rcv.head.msgh_local_port, p);
  EXPECT_EQ(MACH_MSGH_BITS_LOCAL(rcv.head.msgh_bits), MACH_MSG_TYPE_PORT_SEND_ONCE);
  EXPECT_EQ(status_of(p).mps_sorights, 0);
  destroy(dest);
  destroy(p);
}

TEST(port_move_receive) {
  mach_port_t dest = receive_right(), q = receive_and_send();
  KR_OK(send_header(q, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, 44, 0, 0));
  KR_OK(mach_port_deallocate(mach_task_self(), q));  // only the receive right is left
  KR_OK(send_port(dest, q, MACH_MSG_TYPE_MOVE_RECEIVE));
  EXPECT_EQ(ptype(q), KERN_INVALID_NAME);
  ASSERT_EQ(receive(dest, 1000), MACH_MSG_SUCCESS);
  EXPECT_EQ(rcv.port.type.msgt_name, MACH_MSG_TYPE_PORT_RECEIVE);
  mach_port_t r = rcv.port.port.name;
  EXPECT_EQ(ptype(r), MACH_PORT_TYPE_RECEIVE);
  // The queued message travelled with the right.
  EXPECT_EQ(status_of(r).mps_msgcount, 1);
  ASSERT_EQ(receive(r, 1000), MACH_MSG_SUCCESS);
  EXPECT_EQ(rcv.head.msgh_id, 44);
  destroy(dest);
  destroy(r);
}

TEST(send_once_reply) {
  mach_port_t server = receive_and_send(), reply = receive_right();
  KR_OK(send_header(server, MACH_MSG_TYPE_COPY_SEND, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 77, 0, 0));
  ASSERT_EQ(receive(server, 1000), MACH_MSG_SUCCESS);
  // On receipt the kernel swaps the ports: remote is the reply right, local the destination.
  EXPECT_EQ(MACH_MSGH_BITS_REMOTE(rcv.head.msgh_bits), MACH_MSG_TYPE_PORT_SEND_ONCE);
  EXPECT_EQ(MACH_MSGH_BITS_LOCAL(rcv.head.msgh_bits), MACH_MSG_TYPE_PORT_SEND);
  EXPECT_EQ(rcv.head.msgh_local_port, server);
  mach_port_t so = rcv.head.msgh_remote_port;
  EXPECT_EQ(ptype(so), MACH_PORT_TYPE_SEND_ONCE);
  EXPECT_EQ(status_of(reply).mps_sorights, 1);
  KR_OK(send_header(so, MACH_MSG_TYPE_MOVE_SEND_ONCE, MACH_PORT_NULL, 0, 177, 0, 0));
  EXPECT_EQ(ptype(so), KERN_INVALID_NAME);
  ASSERT_EQ(receive(reply, 1000), MACH_MSG_SUCCESS);
  EXPECT_EQ(rcv.head.msgh_id, 177);
  EXPECT_EQ(MACH_MSGH_BITS_LOCAL(rcv.head.msgh_bits), MACH_MSG_TYPE_PORT_SEND_ONCE);
  EXPECT_EQ(status_of(reply).mps_sorights, 0);
  // The right was used: a second reply has nothing to go through.
  EXPECT_EQ(send_header(so, MACH_MSG_TYPE_MOVE_SEND_ONCE, MACH_PORT_NULL, 0, 1, 0, 0),
            MACH_SEND_INVALID_DEST);
  destroy(server);
  destroy(reply);
}

TEST(rcv_timeout_empty_queue) {
  mach_port_t p = receive_right();
  EXPECT_EQ(receive(p, 0), MACH_RCV_TIMED_OUT);
  EXPECT_EQ(receive(p, 20), MACH_RCV_TIMED_OUT);
  EXPECT_EQ(receive(unused_name(0x5200), 0), MACH_RCV_INVALID_NAME);
  // A send right is not something to receive from.
  mach_port_t s = receive_and_send();
  mach_port_t so = MACH_PORT_NULL;
  mach_msg_type_name_t t;
  KR_OK(mach_port_extract_right(mach_task_self(), s, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so, &t));
  EXPECT_EQ(receive(so, 0), MACH_RCV_INVALID_NAME);
  destroy(p);
  destroy(s);
  destroy(so);
}

TEST(send_timeout_full_queue) {
  mach_port_t p = receive_and_send();
  KR_OK(mach_port_set_qlimit(mach_task_self(), p, 1));
  KR_OK(send_header(p, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, 1, MACH_SEND_TIMEOUT, 0));
  EXPECT_EQ(send_header(p, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, 2, MACH_SEND_TIMEOUT, 0),
            MACH_SEND_TIMED_OUT);
  EXPECT_EQ(send_header(p, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, 3, MACH_SEND_TIMEOUT, 20),
            MACH_SEND_TIMED_OUT);
  EXPECT_EQ(status_of(p).mps_msgcount, 1);
  // A send-once right is never held back by the queue limit.
  EXPECT_EQ(send_header(p, MACH_MSG_TYPE_MAKE_SEND_ONCE, MACH_PORT_NULL, 0, 4, MACH_SEND_TIMEOUT, 0),
            MACH_MSG_SUCCESS);
  EXPECT_EQ(status_of(p).mps_msgcount, 2);
  ASSERT_EQ(receive(p, 0), MACH_MSG_SUCCESS);
  EXPECT_EQ(rcv.head.msgh_id, 1);
  ASSERT_EQ(receive(p, 0), MACH_MSG_SUCCESS);
  EXPECT_EQ(rcv.head.msgh_id, 4);
  destroy(p);
}

/* A thread that sends `count` messages to a port with a queue limit of 1, blocking. */
static mach_port_t blocked_port;
static volatile int blocked_sent;
static void blocked_sender(long count) {
  for (long i = 0; i < count; i++) {
    if (send_header(blocked_port, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, 900 + (int)i, 0,
                    0) == MACH_MSG_SUCCESS)
      __atomic_add_fetch(&blocked_sent, 1, __ATOMIC_SEQ_CST);
  }
  thread_exit();
}

TEST(send_blocks_on_full_queue) {
  blocked_port = receive_and_send();
  blocked_sent = 0;
  KR_OK(mach_port_set_qlimit(mach_task_self(), blocked_port, 1));
  ASSERT_NE(start_thread(blocked_sender, 3), MACH_PORT_NULL);
  msleep(50);
  // One message fits; the sender waits with the second.
  EXPECT_EQ(blocked_sent, 1);
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ(receive(blocked_port, 2000), MACH_MSG_SUCCESS);
    EXPECT_EQ(rcv.head.msgh_id, 900 + i);
  }
  msleep(20);
  EXPECT_EQ(blocked_sent, 3);
  destroy(blocked_port);
}

TEST(rcv_too_large) {
  mach_port_t p = receive_and_send();
  memset(&snd, 0, sizeof snd);
  snd.head.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
  snd.head.msgh_size = sizeof(mach_msg_header_t) + sizeof(mach_msg_type_t) + 128;
  snd.head.msgh_remote_port = p;
  snd.head.msgh_id = 55;
  snd.type = type_desc(MACH_MSG_TYPE_BYTE, 8, 128);
  mach_msg_size_t size = snd.head.msgh_size;
  KR_OK(mach_msg(&snd.head, MACH_SEND_MSG, size, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL));
  // With MACH_RCV_LARGE the message stays queued, and the header says how big it is.
  memset(&rcv.head, 0, sizeof rcv.head);
  EXPECT_EQ(mach_msg(&rcv.head, MACH_RCV_MSG | MACH_RCV_LARGE | MACH_RCV_TIMEOUT, 0, 64, p, 0,
                     MACH_PORT_NULL),
            MACH_RCV_TOO_LARGE);
  EXPECT_EQ(rcv.head.msgh_size, size);
  EXPECT_EQ(status_of(p).mps_msgcount, 1);
  ASSERT_EQ(receive(p, 0), MACH_MSG_SUCCESS);
  EXPECT_EQ(rcv.head.msgh_id, 55);
  // Without it the message is dequeued and destroyed.
  KR_OK(mach_msg(&snd.head, MACH_SEND_MSG, size, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL));
  memset(&rcv.head, 0, sizeof rcv.head);
  EXPECT_EQ(mach_msg(&rcv.head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, 64, p, 0, MACH_PORT_NULL),
            MACH_RCV_TOO_LARGE);
  EXPECT_EQ(status_of(p).mps_msgcount, 0);
  EXPECT_EQ(receive(p, 0), MACH_RCV_TIMED_OUT);
  destroy(p);
}

/* --- Send errors: each leaves the queue empty. --- */

TEST(send_invalid_dest) {
  mach_port_t p = receive_right();
  mach_port_t none = unused_name(0x5300);
  EXPECT_EQ(send_header(none, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, 1, 0, 0),
            MACH_SEND_INVALID_DEST);
  EXPECT_EQ(send_header(MACH_PORT_NULL, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, 1, 0, 0),
            MACH_SEND_INVALID_DEST);
  mach_port_t d = MACH_PORT_NULL;
  KR_OK(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_DEAD_NAME, &d));
  EXPECT_EQ(send_header(d, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, 1, 0, 0),
            MACH_SEND_INVALID_DEST);
  // A receive right alone cannot be copied as a send right.
  EXPECT_EQ(send_header(p, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, 1, 0, 0),
            MACH_SEND_INVALID_DEST);
  EXPECT_EQ(status_of(p).mps_msgcount, 0);
  destroy(p);
  destroy(d);
}

TEST(send_receive_right_as_destination) {
  mach_port_t p = receive_right();
  // GNU Mach: a receive-right disposition for the destination in the header is refused
  // as an invalid header (the header carries send or send-once rights only).
  EXPECT_EQ(send_header(p, MACH_MSG_TYPE_MOVE_RECEIVE, MACH_PORT_NULL, 0, 1, 0, 0),
            MACH_SEND_INVALID_HEADER);
  EXPECT_EQ(ptype(p), MACH_PORT_TYPE_RECEIVE);
  // A port's own receive right in the body of a message to it: GNU Mach accepts it...
  mach_msg_return_t mr = send_port(p, p, MACH_MSG_TYPE_MOVE_RECEIVE);
  EXPECT_EQ(mr, MACH_MSG_SUCCESS);
  // ...and the port, now inside a message queued on itself, is gone from our space.
  EXPECT_EQ(ptype(p), KERN_INVALID_NAME);
  // The reply port (local) with a receive disposition is also an invalid header.
  mach_port_t q = receive_and_send();
  EXPECT_EQ(send_header(q, MACH_MSG_TYPE_COPY_SEND, q, MACH_MSG_TYPE_MOVE_RECEIVE, 1, 0, 0),
            MACH_SEND_INVALID_HEADER);
  // An invalid reply port name.
  EXPECT_EQ(send_header(q, MACH_MSG_TYPE_COPY_SEND, unused_name(0x5400),
                        MACH_MSG_TYPE_MAKE_SEND_ONCE, 1, 0, 0),
            MACH_SEND_INVALID_REPLY);
  EXPECT_EQ(status_of(q).mps_msgcount, 0);
  destroy(q);
}

TEST(send_msg_too_small) {
  mach_port_t p = receive_and_send();
  mach_msg_header_t h;
  memset(&h, 0, sizeof h);
  h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
  h.msgh_remote_port = p;
  h.msgh_size = sizeof h;
  EXPECT_EQ(mach_msg(&h, MACH_SEND_MSG, 16, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
            MACH_SEND_MSG_TOO_SMALL);
  EXPECT_EQ(mach_msg(&h, MACH_SEND_MSG, 0, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
            MACH_SEND_MSG_TOO_SMALL);
  // GNU Mach: a size that is not a multiple of the 8-byte alignment is also "too small".
  EXPECT_EQ(mach_msg(&h, MACH_SEND_MSG, sizeof h + 4, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
            MACH_SEND_MSG_TOO_SMALL);
  EXPECT_EQ(status_of(p).mps_msgcount, 0);
  destroy(p);
}

TEST(send_invalid_data) {
  mach_port_t p = receive_and_send();
  // The header itself at a bad address.
  EXPECT_EQ(mach_msg((mach_msg_header_t *)8, MACH_SEND_MSG, sizeof(mach_msg_header_t), 0,
                     MACH_PORT_NULL, 0, MACH_PORT_NULL),
            MACH_SEND_INVALID_DATA);
  EXPECT_EQ(mach_msg((mach_msg_header_t *)0x7ff000000000ul, MACH_SEND_MSG,
                     sizeof(mach_msg_header_t), 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
            MACH_SEND_INVALID_DATA);
  // Out-of-line data at a bad address.
  ool_msg_t m;
  memset(&m, 0, sizeof m);
  m.head.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
  m.head.msgh_size = sizeof m;
  m.head.msgh_remote_port = p;
  m.type = type_desc(MACH_MSG_TYPE_BYTE, 8, 8192);
  m.type.msgt_inline = FALSE;
  m.address = 0x7ff000000000ul;
  EXPECT_EQ(mach_msg(&m.head, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
            MACH_SEND_INVALID_MEMORY);
  EXPECT_EQ(status_of(p).mps_msgcount, 0);
  destroy(p);
}

TEST(send_invalid_type) {
  mach_port_t p = receive_and_send();
  data_msg_t *m = &snd;
  const mach_msg_size_t size = sizeof(mach_msg_header_t) + sizeof(mach_msg_type_t) + 8;
  memset(m, 0, size);
  m->head.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
  m->head.msgh_size = size;
  m->head.msgh_remote_port = p;
  *(mach_port_t *)m->data = p;
  // A port right whose size is not a port's (64 bits in the x86-64 ABI).
  m->type = type_desc(MACH_MSG_TYPE_COPY_SEND, 32, 1);
  EXPECT_EQ(mach_msg(&m->head, MACH_SEND_MSG, size, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
            MACH_SEND_INVALID_TYPE);
  // More data described than the message holds.
  m->type = type_desc(MACH_MSG_TYPE_BYTE, 8, 9);
  EXPECT_EQ(mach_msg(&m->head, MACH_SEND_MSG, size, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
            MACH_SEND_MSG_TOO_SMALL);
  EXPECT_EQ(status_of(p).mps_msgcount, 0);
  // GNU Mach: an unknown msgt_name is not MACH_SEND_INVALID_TYPE. Only port rights are
  // interpreted; any other name is data, delivered as it was sent.
  m->type = type_desc(30, 32, 1);
  EXPECT_EQ(mach_msg(&m->head, MACH_SEND_MSG, size, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
            MACH_MSG_SUCCESS);
  ASSERT_EQ(receive(p, 0), MACH_MSG_SUCCESS);
  EXPECT_EQ(rcv.data.type.msgt_name, 30);
  EXPECT_EQ(rcv.head.msgh_size, size);
  // Without MACH_MSGH_BITS_COMPLEX the body is not looked at: a port type is just data.
  m->head.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
  m->type = type_desc(MACH_MSG_TYPE_COPY_SEND, 32, 1);
  EXPECT_EQ(mach_msg(&m->head, MACH_SEND_MSG, size, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
            MACH_MSG_SUCCESS);
  ASSERT_EQ(receive(p, 0), MACH_MSG_SUCCESS);
  EXPECT_EQ(rcv.data.type.msgt_name, MACH_MSG_TYPE_COPY_SEND);
  EXPECT_EQ(*(mach_port_t *)rcv.data.data, p);
  EXPECT_EQ(urefs(p, MACH_PORT_RIGHT_SEND), 1);
  destroy(p);
}

/* --- The MIG runtime: a server loop and malloc --- */

/* A demux for requests 4000..4099: the reply carries RetCode KERN_SUCCESS, and request
   4099 asks for no reply (MIG_NO_REPLY). */
static int served;
static boolean_t echo_demux(mach_msg_header_t *request, mach_msg_header_t *reply) {
  mig_reply_setup(request, reply);
  if (request->msgh_id < 4000 || request->msgh_id > 4099)
    return FALSE;
  served++;
  ((mig_reply_header_t *)reply)->RetCode = request->msgh_id == 4099 ? MIG_NO_REPLY : KERN_SUCCESS;
  return TRUE;
}

static mach_port_t server_port;
static volatile mach_msg_return_t server_result;
static volatile int server_done;
static void server_thread(long arg) {
  (void)arg;
  server_result = mach_msg_server_timeout(echo_demux, 0, server_port, MACH_RCV_TIMEOUT, 300);
  __atomic_store_n(&server_done, 1, __ATOMIC_SEQ_CST);
  thread_exit();
}

TEST(mach_msg_server_loop) {
  server_port = receive_and_send();
  served = 0;
  server_done = 0;
  ASSERT_NE(start_thread(server_thread, 0), MACH_PORT_NULL);
  mach_port_t reply = receive_right();
  for (int i = 0; i < 3; i++) {
    KR_OK(send_header(server_port, MACH_MSG_TYPE_COPY_SEND, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE,
                      4000 + i, 0, 0));
    ASSERT_EQ(receive(reply, 2000), MACH_MSG_SUCCESS);
    EXPECT_EQ(rcv.head.msgh_id, 4100 + i);
    EXPECT_EQ(rcv.reply.RetCode, KERN_SUCCESS);
  }
  // An unknown request gets MIG_BAD_ID back; MIG_NO_REPLY gets nothing.
  KR_OK(send_header(server_port, MACH_MSG_TYPE_COPY_SEND, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE,
                    5000, 0, 0));
  ASSERT_EQ(receive(reply, 2000), MACH_MSG_SUCCESS);
  EXPECT_EQ(rcv.reply.RetCode, MIG_BAD_ID);
  KR_OK(send_header(server_port, MACH_MSG_TYPE_COPY_SEND, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE,
                    4099, 0, 0));
  EXPECT_EQ(receive(reply, 100), MACH_RCV_TIMED_OUT);
  // With no more requests the loop ends with the receive's timeout.
  for (int i = 0; i < 200 && !server_done; i++)
    msleep(10);
  EXPECT(server_done);
  EXPECT_EQ(server_result, MACH_RCV_TIMED_OUT);
  EXPECT_EQ(served, 4);
  // Refused requests were destroyed without touching the destination's rights.
  EXPECT_EQ(urefs(server_port, MACH_PORT_RIGHT_SEND), 1);
  destroy(server_port);
  destroy(reply);
}

TEST(malloc_over_vm_allocate) {
  static const size_t sizes[] = {1, 16, 17, 100, 4096, 16384, 16385, 200000};
  char *blocks[8];
  for (int i = 0; i < 8; i++) {
    blocks[i] = malloc(sizes[i]);
    ASSERT(blocks[i] != NULL);
    EXPECT_EQ((uintptr_t)blocks[i] % 16, 0);
    memset(blocks[i], i + 1, sizes[i]);
  }
  for (int i = 0; i < 8; i++) {
    EXPECT_EQ(blocks[i][0], i + 1);
    EXPECT_EQ(blocks[i][sizes[i] - 1], i + 1);
  }
  // A freed small block is reused for the same size.
  char *again = blocks[3];
  free(blocks[3]);
  EXPECT(malloc(sizes[3]) == again);
  char *grown = realloc(blocks[0], 5000);
  ASSERT(grown != NULL);
  EXPECT_EQ(grown[0], 1);
  char *zeroed = calloc(100, 10);
  ASSERT(zeroed != NULL);
  EXPECT_EQ(zeroed[999], 0);
  free(zeroed);
  free(grown);
  for (int i = 1; i < 8; i++)
    free(blocks[i]);
}

/* --- RPCs to the kernel --- */

TEST(kernel_rpc_mach_port_type) {
  mach_port_type_t type = 0;
  KR_OK(mach_port_type(mach_task_self(), mach_task_self(), &type));
  EXPECT_EQ(type, MACH_PORT_TYPE_SEND);
  KR_OK(mach_port_type(mach_task_self(), mach_thread_self(), &type));
  EXPECT_EQ(type, MACH_PORT_TYPE_SEND);
  EXPECT_EQ(mach_port_type(mach_task_self(), unused_name(0x5500), &type), KERN_INVALID_NAME);
  // The reply port of the stubs stays one receive right, reused by each call.
  mach_port_t reply = mig_get_reply_port();
  EXPECT_EQ(ptype(reply), MACH_PORT_TYPE_RECEIVE);
  EXPECT_EQ(mig_get_reply_port(), reply);
}

TEST(kernel_rpc_bad_id) {
  // A request the kernel does not know is answered with MIG_BAD_ID on the reply port.
  mach_port_t reply = receive_right();
  ASSERT_EQ(send_header(mach_task_self(), MACH_MSG_TYPE_COPY_SEND, reply,
                        MACH_MSG_TYPE_MAKE_SEND_ONCE, 9999, 0, 0),
            MACH_MSG_SUCCESS);
  ASSERT_EQ(receive(reply, 2000), MACH_MSG_SUCCESS);
  EXPECT_EQ(rcv.head.msgh_id, 9999 + 100);
  EXPECT_EQ(rcv.head.msgh_size, sizeof(mig_reply_header_t));
  EXPECT_EQ(rcv.reply.RetCode, MIG_BAD_ID);
  destroy(reply);
}

TEST(task_info_basic) {
  struct task_basic_info info;
  mach_msg_type_number_t count = TASK_BASIC_INFO_COUNT;
  KR_OK(task_info(mach_task_self(), TASK_BASIC_INFO, (task_info_t)&info, &count));
  EXPECT_EQ(count, TASK_BASIC_INFO_COUNT);
  EXPECT_EQ(info.suspend_count, 0);
  EXPECT(info.virtual_size > 0);
  EXPECT(info.resident_size > 0);
  count = 1;  // too small for the flavour
  EXPECT_EQ(task_info(mach_task_self(), TASK_BASIC_INFO, (task_info_t)&info, &count),
            KERN_INVALID_ARGUMENT);
}

TEST(thread_info_basic) {
  struct thread_basic_info info;
  mach_msg_type_number_t count = THREAD_BASIC_INFO_COUNT;
  KR_OK(thread_info(mach_thread_self(), THREAD_BASIC_INFO, (thread_info_t)&info, &count));
  EXPECT_EQ(count, THREAD_BASIC_INFO_COUNT);
  EXPECT_EQ(info.run_state, TH_STATE_RUNNING);
  EXPECT_EQ(info.suspend_count, 0);
}

TEST(task_threads_lists_self) {
  thread_array_t threads = NULL;
  mach_msg_type_number_t n = 0;
  KR_OK(task_threads(mach_task_self(), &threads, &n));
  EXPECT_GE(n, 1);
  bool self_found = false;
  for (mach_msg_type_number_t i = 0; i < n; i++) {
    if (threads[i] == mach_thread_self())
      self_found = true;
    mach_port_deallocate(mach_task_self(), threads[i]);
  }
  EXPECT(self_found);
  vm_deallocate(mach_task_self(), (vm_address_t)threads, n * sizeof *threads);
}

static volatile unsigned long spin_count;
static void spinner(long arg) {
  (void)arg;
  for (;;)
    spin_count++;
}

TEST(thread_get_state_second_thread) {
  vm_address_t stack = alloc(kThreadStack);
  ASSERT(stack != 0);
  thread_t t = create_thread_in(mach_task_self(), spinner, 0x1234, stack, kThreadStack);
  ASSERT_NE(t, MACH_PORT_NULL);
  // Not yet resumed: the state is the one we set.
  struct i386_thread_state st;
  mach_msg_type_number_t count = i386_THREAD_STATE_COUNT;
  KR_OK(thread_get_state(t, i386_REGS_SEGS_STATE, (thread_state_t)&st, &count));
  EXPECT_EQ(count, i386_THREAD_STATE_COUNT);
  EXPECT_EQ(st.rip, (uint64_t)(uintptr_t)spinner);
  EXPECT_EQ(st.rdi, 0x1234);
  EXPECT_EQ(st.ursp, stack + kThreadStack - 8);
  thread_array_t threads = NULL;
  mach_msg_type_number_t n = 0;
  KR_OK(task_threads(mach_task_self(), &threads, &n));
  EXPECT_GE(n, 2);
  vm_deallocate(mach_task_self(), (vm_address_t)threads, n * sizeof *threads);

  // Running, then suspended: it stops, and its state shows it inside the spinner's stack.
  KR_OK(thread_resume(t));
  for (int i = 0; i < 100 && spin_count == 0; i++)
    msleep(10);
  EXPECT(spin_count > 0);
  KR_OK(thread_suspend(t));
  unsigned long frozen = spin_count;
  msleep(30);
  EXPECT_EQ(spin_count, frozen);
  count = i386_THREAD_STATE_COUNT;
  KR_OK(thread_get_state(t, i386_REGS_SEGS_STATE, (thread_state_t)&st, &count));
  EXPECT(st.ursp > stack && st.ursp <= stack + kThreadStack);
  EXPECT(st.rip >= (uint64_t)(uintptr_t)spinner && st.rip < (uint64_t)(uintptr_t)spinner + 64);
  struct thread_basic_info info;
  count = THREAD_BASIC_INFO_COUNT;
  KR_OK(thread_info(t, THREAD_BASIC_INFO, (thread_info_t)&info, &count));
  EXPECT_EQ(info.suspend_count, 1);
  // A flavour x86-64 does not have.
  count = i386_THREAD_STATE_COUNT;
  EXPECT_EQ(thread_get_state(t, 99, (thread_state_t)&st, &count), KERN_INVALID_ARGUMENT);
  KR_OK(thread_terminate(t));
}

TEST(host_info_basic) {
  struct host_basic_info info;
  mach_msg_type_number_t count = HOST_BASIC_INFO_COUNT;
  KR_OK(host_info(mach_host_self(), HOST_BASIC_INFO, (host_info_t)&info, &count));
  EXPECT_EQ(count, HOST_BASIC_INFO_COUNT);
  EXPECT_GE(info.max_cpus, 1);
  EXPECT_GE(info.avail_cpus, 1);
  EXPECT(info.avail_cpus <= info.max_cpus);
  EXPECT(info.memory_size > 0);
  EXPECT_EQ(info.cpu_type, CPU_TYPE_X86_64);
}

/* ---- processor sets: one default set, as GNU Mach without MACH_HOST ---- */

static mach_port_t host_priv;  /* argv[1] of the boot script */

static bool name_in(mach_port_t name, mach_port_t *list, mach_msg_type_number_t n) {
  for (mach_msg_type_number_t i = 0; i < n; i++)
    if (list[i] == name)
      return true;
  return false;
}

static void release_list(mach_port_t *list, mach_msg_type_number_t n) {
  for (mach_msg_type_number_t i = 0; i < n; i++)
    mach_port_deallocate(mach_task_self(), list[i]);
  vm_deallocate(mach_task_self(), (vm_address_t)list, n * sizeof *list);
}

TEST(processor_set_default_info) {
  mach_port_t set = MACH_PORT_NULL, host = MACH_PORT_NULL;
  KR_OK(processor_set_default(mach_host_self(), &set));
  ASSERT(MACH_PORT_VALID(set));
  struct host_basic_info hinfo;
  mach_msg_type_number_t count = HOST_BASIC_INFO_COUNT;
  KR_OK(host_info(mach_host_self(), HOST_BASIC_INFO, (host_info_t)&hinfo, &count));

  struct processor_set_basic_info info;
  count = PROCESSOR_SET_BASIC_INFO_COUNT;
  KR_OK(processor_set_info(set, PROCESSOR_SET_BASIC_INFO, &host, (processor_set_info_t)&info,
                           &count));
  EXPECT_EQ(count, PROCESSOR_SET_BASIC_INFO_COUNT);
  EXPECT_EQ(host, mach_host_self());  /* the host's name port, merged with ours */
  EXPECT_EQ(info.processor_count, hinfo.avail_cpus);
  EXPECT_GE(info.task_count, 1);
  EXPECT_GE(info.thread_count, info.task_count > 1 ? 2 : 1);

  struct processor_set_sched_info sched;
  count = PROCESSOR_SET_SCHED_INFO_COUNT;
  KR_OK(processor_set_info(set, PROCESSOR_SET_SCHED_INFO, &host, (processor_set_info_t)&sched,
                           &count));
  EXPECT_EQ(count, PROCESSOR_SET_SCHED_INFO_COUNT);

  count = PROCESSOR_SET_BASIC_INFO_COUNT - 1;
  EXPECT_EQ(processor_set_info(set, PROCESSOR_SET_BASIC_INFO, &host,
                               (processor_set_info_t)&info, &count),
            KERN_FAILURE);
  count = PROCESSOR_SET_BASIC_INFO_COUNT;
  EXPECT_EQ(processor_set_info(set, 99, &host, (processor_set_info_t)&info, &count),
            KERN_INVALID_ARGUMENT);
  /* A port that is no processor set. */
  count = PROCESSOR_SET_BASIC_INFO_COUNT;
  EXPECT_EQ(processor_set_info(mach_task_self(), PROCESSOR_SET_BASIC_INFO, &host,
                               (processor_set_info_t)&info, &count),
            KERN_INVALID_ARGUMENT);
  mach_port_deallocate(mach_task_self(), set);
}

TEST(processor_set_one_set_only) {
  mach_port_t set = MACH_PORT_NULL, *sets = NULL, a = MACH_PORT_NULL, b = MACH_PORT_NULL;
  mach_msg_type_number_t n = 0;
  KR_OK(processor_set_default(mach_host_self(), &set));
  KR_OK(host_processor_sets(mach_host_self(), &sets, &n));
  EXPECT_EQ(n, 1);
  if (n == 1)
    EXPECT_EQ(sets[0], set);  /* the default set's name port */
  release_list(sets, n);
  EXPECT_EQ(processor_set_create(mach_host_self(), &a, &b), KERN_FAILURE);
  mach_port_t control = MACH_PORT_NULL;
  ASSERT(MACH_PORT_VALID(host_priv));
  KR_OK(host_processor_set_priv(host_priv, set, &control));
  EXPECT_EQ(processor_set_destroy(control), KERN_FAILURE);
  mach_port_deallocate(mach_task_self(), control);
  mach_port_deallocate(mach_task_self(), set);
}

TEST(processor_set_tasks_and_threads) {
  mach_port_t set = MACH_PORT_NULL, control = MACH_PORT_NULL, *list = NULL;
  mach_msg_type_number_t n = 0;
  KR_OK(processor_set_default(mach_host_self(), &set));
  /* The control port needs the host-privileged port, and a set's name. */
  EXPECT_EQ(host_processor_set_priv(mach_host_self(), set, &control), KERN_INVALID_ARGUMENT);
  ASSERT(MACH_PORT_VALID(host_priv));
  EXPECT_EQ(host_processor_set_priv(host_priv, mach_task_self(), &control),
            KERN_INVALID_ARGUMENT);
  KR_OK(host_processor_set_priv(host_priv, set, &control));
  ASSERT(MACH_PORT_VALID(control));
  EXPECT(control != set);

  /* The name port lists nothing: only the control port does. */
  EXPECT_EQ(processor_set_tasks(set, &list, &n), KERN_INVALID_ARGUMENT);
  EXPECT_EQ(processor_set_threads(set, &list, &n), KERN_INVALID_ARGUMENT);

  KR_OK(processor_set_tasks(control, &list, &n));
  EXPECT_GE(n, 1);
  EXPECT(name_in(mach_task_self(), list, n));
  release_list(list, n);

  KR_OK(processor_set_threads(control, &list, &n));
  EXPECT_GE(n, 1);
  mach_port_t me = mach_thread_self();
  EXPECT(name_in(me, list, n));
  release_list(list, n);
  mach_port_deallocate(mach_task_self(), me);

  /* The control port names the set too. */
  struct processor_set_basic_info info;
  mach_port_t host = MACH_PORT_NULL;
  mach_msg_type_number_t count = PROCESSOR_SET_BASIC_INFO_COUNT;
  KR_OK(processor_set_info(control, PROCESSOR_SET_BASIC_INFO, &host,
                           (processor_set_info_t)&info, &count));
  mach_port_deallocate(mach_task_self(), control);
  mach_port_deallocate(mach_task_self(), set);
}

int main(int argc, char **argv) {
  if (argc > 1)
    host_priv = (mach_port_t)strtoul(argv[1], NULL, 10);
  return test_main(argc, argv);
}
