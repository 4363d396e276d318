// Message copyin and copyout (ipc_kmsg.cc): user-format messages as a GNU Mach program builds
// them (mach_msg_header_t and mach_msg_type_t items from <mach/message.h>) copied in from one
// space, queued on the destination and copied out into the other; every send error with the
// rights it must leave or release; kmsg_destroy; and random mutations of valid messages.
#include <initializer_list>
#include <map>
#include <random>

#include "ipc_test_util.h"

namespace {

// A message in the user's layout, built item by item.
class UserMsg {
 public:
  UserMsg(unsigned remote_disp, mach_port_name_t dest, unsigned local_disp,
          mach_port_name_t reply, mach_msg_id_t id = 1000)
      : buf_(sizeof(mach_msg_header_t)) {
    mach_msg_header_t h{};
    h.msgh_bits = MACH_MSGH_BITS(remote_disp, local_disp);
    h.msgh_remote_port = dest;
    h.msgh_local_port = reply;
    h.msgh_id = id;
    memcpy(buf_.data(), &h, sizeof h);
  }

  static mach_msg_type_t type(unsigned name, unsigned size_bits, uint32_t number,
                              bool is_inline = true) {
    mach_msg_type_t t{};
    t.msgt_name = name;
    t.msgt_size = size_bits;
    t.msgt_number = number;
    t.msgt_inline = is_inline;
    return t;
  }

  // An item: its descriptor, then `bytes` of data padded to 8.
  void item(const mach_msg_type_t& t, const void* data, size_t bytes) {
    append(&t, sizeof t);
    append(data, bytes);
    buf_.resize((buf_.size() + 7) & ~size_t{7}, 0);
    header()->msgh_bits |= MACH_MSGH_BITS_COMPLEX;
  }
  void ports(unsigned disp, std::initializer_list<mach_port_name_t> names) {
    std::vector<mach_port_name_inlined_t> slots;
    for (mach_port_name_t n : names) {
      mach_port_name_inlined_t s{};
      s.kernel_port_do_not_use = 0;
      s.name = n;
      slots.push_back(s);
    }
    item(type(disp, 64, static_cast<uint32_t>(names.size())), slots.data(),
         slots.size() * sizeof(mach_port_name_inlined_t));
  }
  void ints(std::initializer_list<int32_t> values) {
    std::vector<int32_t> v(values);
    item(type(MACH_MSG_TYPE_INTEGER_32, 32, static_cast<uint32_t>(v.size())), v.data(),
         v.size() * 4);
  }

  mach_msg_header_t* header() { return reinterpret_cast<mach_msg_header_t*>(buf_.data()); }
  std::vector<uint8_t>& bytes() { return buf_; }
  uint32_t size() const { return static_cast<uint32_t>(buf_.size()); }

 private:
  void append(const void* p, size_t n) {
    auto* b = static_cast<const uint8_t*>(p);
    buf_.insert(buf_.end(), b, b + n);
  }
  std::vector<uint8_t> buf_;
};

class IpcKmsg : public IpcTest {
 protected:
  // Copies `bytes` in from `s` as mach_msg does (the kernel sets msgh_size to the send size);
  // on success *out is the kernel message, not yet queued. On failure it is freed.
  static mach_msg_return_t copyin_msg(IpcSpace& s, const std::vector<uint8_t>& bytes,
                                      KMsg** out) {
    *out = nullptr;
    KMsg* k = kmsg_alloc(static_cast<uint32_t>(bytes.size()));
    EXPECT_NE(k, nullptr);
    if (!k) return MACH_SEND_NO_BUFFER;
    memcpy(k->data(), bytes.data(), bytes.size());
    k->header()->size = static_cast<uint32_t>(bytes.size());
    IpcGuard g;
    mach_msg_return_t mr = kmsg_copyin_header(&s, k);
    if (mr == MACH_MSG_SUCCESS) mr = kmsg_copyin_body(&s, k);
    if (mr != MACH_MSG_SUCCESS) {
      kmsg_free(k);
      return mr;
    }
    *out = k;
    return mr;
  }
  // Copyin and queue on the destination.
  static mach_msg_return_t send(IpcSpace& s, UserMsg& m) {
    KMsg* k;
    mach_msg_return_t mr = copyin_msg(s, m.bytes(), &k);
    if (mr != MACH_MSG_SUCCESS) return mr;
    IpcGuard g;
    port_enqueue(reinterpret_cast<Port*>(k->header()->remote), k);
    return mr;
  }
  // The port-name slot `i` of the item at `offset` in a received message.
  static mach_port_name_t slot(const std::vector<uint8_t>& m, size_t offset, size_t i) {
    mach_port_name_inlined_t s;
    memcpy(&s, m.data() + offset + sizeof(mach_msg_type_t) + i * sizeof s, sizeof s);
    return s.name;
  }
  static mach_msg_type_t type_at(const std::vector<uint8_t>& m, size_t offset) {
    mach_msg_type_t t;
    memcpy(&t, m.data() + offset, sizeof t);
    return t;
  }
};

constexpr size_t kBody = sizeof(mach_msg_header_t);

TEST_F(IpcKmsg, RpcRoundTrip) {
  // B serves `srv`; A holds a send right to it and a reply port of its own.
  mach_port_name_t srv = new_port(b_);
  mach_port_name_t sa = give(b_, srv, MACH_MSG_TYPE_MAKE_SEND, a_);
  mach_port_name_t rep = new_port(a_);
  mach_port_name_t x = new_port(a_);  // A gives B a send right to x
  mach_port_name_t y = new_port(a_);  // and the receive right of y
  Port* ps = port_of(b_, srv);
  Port* pr = port_of(a_, rep);
  Port* px = port_of(a_, x);
  Port* py = port_of(a_, y);

  UserMsg m(MACH_MSG_TYPE_COPY_SEND, sa, MACH_MSG_TYPE_MAKE_SEND_ONCE, rep, 4242);
  m.ints({7, -1, 0x12345678});
  m.ports(MACH_MSG_TYPE_MAKE_SEND, {x, MACH_PORT_NULL, MACH_PORT_DEAD});
  m.ports(MACH_MSG_TYPE_MOVE_RECEIVE, {y});
  host_wakeups_clear();
  ASSERT_EQ(send(a_, m), MACH_MSG_SUCCESS);
  EXPECT_TRUE(host_woken(ps));
  // In transit: the message holds the rights.
  EXPECT_EQ(ps->srights, 2u);   // A's entry and the message's copy
  EXPECT_EQ(pr->sorights, 1u);  // the reply right
  EXPECT_EQ(px->srights, 1u);
  EXPECT_EQ(px->mscount, 1u);
  EXPECT_EQ(py->receiver, nullptr);
  EXPECT_EQ(entry(a_, y), nullptr);
  EXPECT_EQ(urefs_of(a_, sa), 1u);  // copy-send

  auto r = receive(b_, srv);
  ASSERT_EQ(r.size(), m.size());
  mach_msg_header_t h = header_of(r);
  // The receiver sees the reply right as remote, its own receive right's name as local.
  EXPECT_EQ(h.msgh_local_port, srv);
  mach_port_name_t reply_b = h.msgh_remote_port;
  EXPECT_EQ(type_of(b_, reply_b), MACH_PORT_TYPE_SEND_ONCE);
  EXPECT_EQ(h.msgh_bits, MACH_MSGH_BITS_COMPLEX | MACH_MSGH_BITS(MACH_MSG_TYPE_PORT_SEND_ONCE,
                                                                 MACH_MSG_TYPE_PORT_SEND));
  EXPECT_EQ(h.msgh_id, 4242);
  EXPECT_EQ(h.msgh_size, m.size());
  EXPECT_EQ(h.msgh_seqno, 0u);
  EXPECT_EQ(ps->seqno, 1u);
  EXPECT_EQ(ps->srights, 1u);  // the delivery used up the message's send right
  // Data unchanged.
  EXPECT_EQ(memcmp(r.data() + kBody, m.bytes().data() + kBody, 24), 0);
  // Port items: names in B, types rewritten to the transit types.
  size_t off = kBody + 24;
  EXPECT_EQ(type_at(r, off).msgt_name, unsigned{MACH_MSG_TYPE_PORT_SEND});
  EXPECT_EQ(type_at(r, off).msgt_size, 64u);
  mach_port_name_t xb = slot(r, off, 0);
  EXPECT_EQ(type_of(b_, xb), MACH_PORT_TYPE_SEND);
  EXPECT_EQ(port_of(b_, xb), px);
  EXPECT_EQ(slot(r, off, 1), MACH_PORT_NULL);
  EXPECT_EQ(slot(r, off, 2), MACH_PORT_DEAD);
  // The slots' upper halves are clear (mach_port_name_inlined_t).
  uint64_t raw;
  memcpy(&raw, r.data() + off + 8, 8);
  EXPECT_EQ(raw, uint64_t{xb});
  off += 8 + 24;
  EXPECT_EQ(type_at(r, off).msgt_name, unsigned{MACH_MSG_TYPE_PORT_RECEIVE});
  mach_port_name_t yb = slot(r, off, 0);
  EXPECT_EQ(type_of(b_, yb), MACH_PORT_TYPE_RECEIVE);
  EXPECT_EQ(py->receiver, &b_);
  EXPECT_EQ(py->receiver_name, yb);

  // B replies on the send-once right; A receives it on rep.
  UserMsg reply(MACH_MSG_TYPE_MOVE_SEND_ONCE, reply_b, 0, MACH_PORT_NULL, 4342);
  reply.ints({99});
  ASSERT_EQ(send(b_, reply), MACH_MSG_SUCCESS);
  EXPECT_EQ(entry(b_, reply_b), nullptr);
  auto rr = receive(a_, rep);
  mach_msg_header_t rh = header_of(rr);
  EXPECT_EQ(rh.msgh_id, 4342);
  EXPECT_EQ(rh.msgh_local_port, rep);
  EXPECT_EQ(rh.msgh_remote_port, MACH_PORT_NULL);
  EXPECT_EQ(rh.msgh_bits,
            MACH_MSGH_BITS_COMPLEX | MACH_MSGH_BITS(0, MACH_MSG_TYPE_PORT_SEND_ONCE));
  EXPECT_EQ(pr->sorights, 0u);
  EXPECT_EQ(pr->refs, 1u);
}

TEST_F(IpcKmsg, SimpleMessageNoReply) {
  mach_port_name_t srv = new_port(b_);
  mach_port_name_t sa = give(b_, srv, MACH_MSG_TYPE_MAKE_SEND, a_);
  UserMsg m(MACH_MSG_TYPE_MOVE_SEND, sa, 0, MACH_PORT_NULL);
  ASSERT_EQ(send(a_, m), MACH_MSG_SUCCESS);
  EXPECT_EQ(entry(a_, sa), nullptr);
  auto r = receive(b_, srv);
  mach_msg_header_t h = header_of(r);
  EXPECT_EQ(h.msgh_bits, MACH_MSGH_BITS(0, MACH_MSG_TYPE_PORT_SEND));
  EXPECT_EQ(h.msgh_size, sizeof(mach_msg_header_t));
  EXPECT_EQ(port_of(b_, srv)->srights, 0u);
}

TEST_F(IpcKmsg, UnknownTypesPassThrough) {
  mach_port_name_t srv = new_port(b_);
  UserMsg m(MACH_MSG_TYPE_MAKE_SEND, srv, 0, MACH_PORT_NULL);
  const char text[] = "hello, mach";
  m.item(UserMsg::type(200, 8, sizeof text), text, sizeof text);  // a name Mach doesn't know
  m.item(UserMsg::type(MACH_MSG_TYPE_PORT_NAME, 32, 1), "\x05\0\0\0", 4);  // a name as data
  m.item(UserMsg::type(MACH_MSG_TYPE_BIT, 1, 13), "\xff\x1f", 2);
  std::vector<uint8_t> sent = m.bytes();
  ASSERT_EQ(send(b_, m), MACH_MSG_SUCCESS);
  auto r = receive(b_, srv);
  ASSERT_EQ(r.size(), sent.size());
  EXPECT_EQ(memcmp(r.data() + kBody, sent.data() + kBody, sent.size() - kBody), 0);
}

TEST_F(IpcKmsg, InvalidDest) {
  mach_port_name_t p = new_port(a_);
  mach_port_name_t set = MACH_PORT_NULL;
  ASSERT_EQ(mach_port_allocate(&a_, MACH_PORT_RIGHT_PORT_SET, &set), KERN_SUCCESS);
  KMsg* k;
  for (mach_port_name_t d : {mach_port_name_t{MACH_PORT_NULL}, mach_port_name_t{MACH_PORT_DEAD},
                             mach_port_name_t{0x999}, set}) {
    UserMsg m(MACH_MSG_TYPE_COPY_SEND, d, 0, MACH_PORT_NULL);
    EXPECT_EQ(copyin_msg(a_, m.bytes(), &k), MACH_SEND_INVALID_DEST) << d;
  }
  // A receive right alone cannot be sent to with copy/move-send.
  UserMsg m(MACH_MSG_TYPE_MOVE_SEND, p, 0, MACH_PORT_NULL);
  EXPECT_EQ(copyin_msg(a_, m.bytes(), &k), MACH_SEND_INVALID_DEST);
  EXPECT_EQ(type_of(a_, p), MACH_PORT_TYPE_RECEIVE);
  EXPECT_EQ(kmsg_count(), 0u);
}

TEST_F(IpcKmsg, DeadDestLeavesDeadName) {
  mach_port_name_t srv = new_port(b_);
  mach_port_name_t sa = give(b_, srv, MACH_MSG_TYPE_MAKE_SEND, a_);
  mach_port_name_t rep = new_port(a_);
  {
    IpcGuard g;
    EXPECT_EQ(right_destroy(&b_, srv), KERN_SUCCESS);
  }
  KMsg* k;
  for (unsigned disp : {MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MOVE_SEND}) {
    UserMsg m(disp, sa, MACH_MSG_TYPE_MAKE_SEND_ONCE, rep);
    EXPECT_EQ(copyin_msg(a_, m.bytes(), &k), MACH_SEND_INVALID_DEST);
  }
  // As GNU Mach (ipc_right_copyin with deadok false): the dead name keeps its uref, and
  // the reply right was not taken.
  EXPECT_EQ(type_of(a_, sa), MACH_PORT_TYPE_DEAD_NAME);
  EXPECT_EQ(urefs_of(a_, sa), 1u);
  EXPECT_EQ(port_of(a_, rep)->sorights, 0u);
  EXPECT_EQ(queued(a_, rep), 0u);
}

TEST_F(IpcKmsg, InvalidHeader) {
  mach_port_name_t p = new_port(a_);
  mach_port_name_t q = new_port(a_);
  KMsg* k;
  struct Case {
    unsigned rd, ld;
    mach_port_name_t reply;
  } cases[] = {
      {MACH_MSG_TYPE_MOVE_RECEIVE, 0, MACH_PORT_NULL},
      {MACH_MSG_TYPE_MAKE_SEND, MACH_MSG_TYPE_MOVE_RECEIVE, q},
      {MACH_MSG_TYPE_INTEGER_32, 0, MACH_PORT_NULL},
      {0, 0, MACH_PORT_NULL},
      {MACH_MSG_TYPE_MAKE_SEND, MACH_MSG_TYPE_INTEGER_32, q},
      {MACH_MSG_TYPE_MAKE_SEND, 0, q},  // a reply name without a disposition
      // A disposition that is not a send right, even with no reply name (GNU Mach).
      {MACH_MSG_TYPE_MAKE_SEND, MACH_MSG_TYPE_MOVE_RECEIVE, MACH_PORT_NULL},
  };
  for (const Case& c : cases) {
    UserMsg m(c.rd, p, c.ld, c.reply);
    EXPECT_EQ(copyin_msg(a_, m.bytes(), &k), MACH_SEND_INVALID_HEADER) << c.rd << " " << c.ld;
  }
  EXPECT_EQ(type_of(a_, p), MACH_PORT_TYPE_RECEIVE);
  EXPECT_EQ(type_of(a_, q), MACH_PORT_TYPE_RECEIVE);
  EXPECT_EQ(port_of(a_, p)->mscount, 0u);
}

TEST_F(IpcKmsg, InvalidReply) {
  mach_port_name_t srv = new_port(b_);
  mach_port_name_t sa = give(b_, srv, MACH_MSG_TYPE_MAKE_SEND, a_);
  mach_port_name_t other = give(b_, new_port(b_), MACH_MSG_TYPE_MAKE_SEND, a_);
  KMsg* k;
  struct Case {
    unsigned ld;
    mach_port_name_t reply;
  } cases[] = {
      {MACH_MSG_TYPE_MAKE_SEND_ONCE, 0x999},
      {MACH_MSG_TYPE_MAKE_SEND, other},       // a send right can't make rights
      {MACH_MSG_TYPE_MOVE_SEND_ONCE, other},  // nor be a send-once right
  };
  for (const Case& c : cases) {
    UserMsg m(MACH_MSG_TYPE_MOVE_SEND, sa, c.ld, c.reply);
    EXPECT_EQ(copyin_msg(a_, m.bytes(), &k), MACH_SEND_INVALID_REPLY);
  }
  // Nothing was consumed: the destination's moved send right is still there.
  EXPECT_EQ(urefs_of(a_, sa), 1u);
  EXPECT_EQ(urefs_of(a_, other), 1u);
  EXPECT_EQ(port_of(b_, srv)->srights, 1u);
}

TEST_F(IpcKmsg, SameNameTwice) {
  mach_port_name_t srv = new_port(b_);
  Port* ps = port_of(b_, srv);
  mach_port_name_t sa = give(b_, srv, MACH_MSG_TYPE_MAKE_SEND, a_);
  KMsg* k;
  // Two moves need two urefs; a move-send-once can't be paired (GNU Mach: INVALID_DEST).
  {
    UserMsg m(MACH_MSG_TYPE_MOVE_SEND, sa, MACH_MSG_TYPE_MOVE_SEND, sa);
    EXPECT_EQ(copyin_msg(a_, m.bytes(), &k), MACH_SEND_INVALID_DEST);
    EXPECT_EQ(urefs_of(a_, sa), 1u);
  }
  // Move + copy with one uref: the entry's right goes, and the reply is a copy of it.
  {
    UserMsg m(MACH_MSG_TYPE_MOVE_SEND, sa, MACH_MSG_TYPE_COPY_SEND, sa);
    ASSERT_EQ(copyin_msg(a_, m.bytes(), &k), MACH_MSG_SUCCESS);
    EXPECT_EQ(entry(a_, sa), nullptr);
    EXPECT_EQ(k->header()->remote, reinterpret_cast<uint64_t>(ps));
    EXPECT_EQ(k->header()->local, reinterpret_cast<uint64_t>(ps));
    EXPECT_EQ(k->header()->bits,
              MACH_MSGH_BITS(MACH_MSG_TYPE_PORT_SEND, MACH_MSG_TYPE_PORT_SEND));
    EXPECT_EQ(ps->srights, 2u);
    IpcGuard g;
    port_enqueue(ps, k);
  }
  auto r = receive(b_, srv);
  mach_msg_header_t h = header_of(r);
  EXPECT_EQ(h.msgh_remote_port, srv);  // the reply send right lands on the receive right
  EXPECT_EQ(h.msgh_local_port, srv);
  EXPECT_EQ(type_of(b_, srv), MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_RECEIVE);
  EXPECT_EQ(ps->srights, 1u);

  // Two moves with two urefs.
  sa = give(b_, srv, MACH_MSG_TYPE_COPY_SEND, a_);
  give(b_, srv, MACH_MSG_TYPE_COPY_SEND, a_);
  EXPECT_EQ(urefs_of(a_, sa), 2u);
  {
    UserMsg m(MACH_MSG_TYPE_MOVE_SEND, sa, MACH_MSG_TYPE_MOVE_SEND, sa);
    ASSERT_EQ(send(a_, m), MACH_MSG_SUCCESS);
    EXPECT_EQ(entry(a_, sa), nullptr);
  }
  receive(b_, srv);
  EXPECT_EQ(urefs_of(b_, srv), 2u);  // its own plus the reply's

  // On a receive right: make-send and make-send-once together.
  mach_port_name_t rep = new_port(a_);
  {
    UserMsg m(MACH_MSG_TYPE_MAKE_SEND, rep, MACH_MSG_TYPE_MAKE_SEND_ONCE, rep);
    ASSERT_EQ(send(a_, m), MACH_MSG_SUCCESS);
  }
  auto self = receive(a_, rep);
  EXPECT_EQ(header_of(self).msgh_local_port, rep);
  mach_port_name_t so = header_of(self).msgh_remote_port;
  EXPECT_EQ(type_of(a_, so), MACH_PORT_TYPE_SEND_ONCE);
  // A send-once right cannot be both.
  {
    UserMsg m(MACH_MSG_TYPE_MOVE_SEND_ONCE, so, MACH_MSG_TYPE_MOVE_SEND_ONCE, so);
    EXPECT_EQ(copyin_msg(a_, m.bytes(), &k), MACH_SEND_INVALID_DEST);
    EXPECT_EQ(type_of(a_, so), MACH_PORT_TYPE_SEND_ONCE);
  }
}

TEST_F(IpcKmsg, BadRightInBodyReleasesRights) {
  mach_port_name_t srv = new_port(b_);
  Port* ps = port_of(b_, srv);
  mach_port_name_t sa = give(b_, srv, MACH_MSG_TYPE_MAKE_SEND, a_);
  give(b_, srv, MACH_MSG_TYPE_MAKE_SEND, a_);  // urefs 2
  mach_port_name_t rep = new_port(a_);
  mach_port_name_t x = new_port(a_);
  mach_port_name_t y = new_port(a_);
  Port* px = port_of(a_, x);
  Port* py = port_of(a_, y);
  Port* pr = port_of(a_, rep);

  UserMsg m(MACH_MSG_TYPE_MOVE_SEND, sa, MACH_MSG_TYPE_MAKE_SEND, rep);
  m.ints({1, 2});
  m.ports(MACH_MSG_TYPE_MAKE_SEND, {x, x});
  m.ports(MACH_MSG_TYPE_MOVE_RECEIVE, {y});
  m.ports(MACH_MSG_TYPE_COPY_SEND, {sa, 0x999});  // the second name is bad
  m.ports(MACH_MSG_TYPE_MAKE_SEND, {x});          // never reached
  KMsg* k;
  EXPECT_EQ(copyin_msg(a_, m.bytes(), &k), MACH_SEND_INVALID_RIGHT);
  // Mach destroys the message: the rights copied in so far go with it, header's too.
  EXPECT_EQ(px->srights, 0u);
  EXPECT_EQ(px->refs, 1u);
  EXPECT_EQ(px->mscount, 2u);   // made, then released
  (void)py;                     // freed: the moved receive right died with the message
  EXPECT_EQ(entry(a_, y), nullptr);
  EXPECT_EQ(urefs_of(a_, sa), 1u);  // the moved send right is gone
  EXPECT_EQ(ps->srights, 1u);
  EXPECT_EQ(pr->srights, 0u);
  EXPECT_EQ(pr->refs, 1u);
  EXPECT_EQ(kmsg_count(), 0u);
  EXPECT_EQ(port_count(), 3u);  // srv, rep, x, and nothing of y
}

TEST_F(IpcKmsg, BadRightReleasesSendOnceReply) {
  // A make-send-once reply released unused owes its port a send-once notification.
  mach_port_name_t srv = new_port(b_);
  mach_port_name_t sa = give(b_, srv, MACH_MSG_TYPE_MAKE_SEND, a_);
  mach_port_name_t rep = new_port(a_);
  UserMsg m(MACH_MSG_TYPE_COPY_SEND, sa, MACH_MSG_TYPE_MAKE_SEND_ONCE, rep);
  m.ports(MACH_MSG_TYPE_MOVE_SEND_ONCE, {sa});
  KMsg* k;
  EXPECT_EQ(copyin_msg(a_, m.bytes(), &k), MACH_SEND_INVALID_RIGHT);
  EXPECT_EQ(header_of(receive(a_, rep)).msgh_id, MACH_NOTIFY_SEND_ONCE);
  EXPECT_EQ(port_of(a_, rep)->sorights, 0u);
  EXPECT_EQ(port_of(b_, srv)->srights, 1u);
}

TEST_F(IpcKmsg, MalformedBody) {
  mach_port_name_t srv = new_port(b_);
  mach_port_name_t x = new_port(a_);
  mach_port_name_t sa = give(b_, srv, MACH_MSG_TYPE_MAKE_SEND, a_);
  Port* px = port_of(a_, x);
  KMsg* k;
  // An item claiming more data than the message holds.
  {
    UserMsg m(MACH_MSG_TYPE_COPY_SEND, sa, 0, MACH_PORT_NULL);
    m.ports(MACH_MSG_TYPE_MAKE_SEND, {x});
    int32_t four[2] = {1, 2};
    m.item(UserMsg::type(MACH_MSG_TYPE_INTEGER_32, 32, 4), four, sizeof four);
    EXPECT_EQ(copyin_msg(a_, m.bytes(), &k), MACH_SEND_MSG_TOO_SMALL);
    EXPECT_EQ(px->srights, 0u);
  }
  // A port item whose size is not 64 bits.
  {
    UserMsg m(MACH_MSG_TYPE_COPY_SEND, sa, 0, MACH_PORT_NULL);
    m.ports(MACH_MSG_TYPE_MAKE_SEND, {x});
    uint32_t name = x;
    m.item(UserMsg::type(MACH_MSG_TYPE_MAKE_SEND, 32, 1), &name, 4);
    EXPECT_EQ(copyin_msg(a_, m.bytes(), &k), MACH_SEND_INVALID_TYPE);
    EXPECT_EQ(px->srights, 0u);
  }
  // Out-of-line data (until the VM system's copies arrive).
  {
    UserMsg m(MACH_MSG_TYPE_COPY_SEND, sa, 0, MACH_PORT_NULL);
    uint64_t addr = 0x1000;
    m.item(UserMsg::type(MACH_MSG_TYPE_INTEGER_32, 32, 4, false), &addr, 8);
    EXPECT_EQ(copyin_msg(a_, m.bytes(), &k), MACH_SEND_INVALID_TYPE);
  }
  EXPECT_EQ(port_of(b_, srv)->srights, 1u);
  EXPECT_EQ(urefs_of(a_, sa), 1u);
  EXPECT_EQ(px->mscount, 2u);
  EXPECT_EQ(kmsg_count(), 0u);
}

TEST_F(IpcKmsg, DestroyReleasesEverything) {
  mach_port_name_t srv = new_port(b_);
  mach_port_name_t sa = give(b_, srv, MACH_MSG_TYPE_MAKE_SEND, a_);
  mach_port_name_t rep = new_port(a_);
  mach_port_name_t x = new_port(a_);
  mach_port_name_t y = new_port(a_);
  UserMsg m(MACH_MSG_TYPE_MOVE_SEND, sa, MACH_MSG_TYPE_MAKE_SEND, rep);
  m.ports(MACH_MSG_TYPE_MAKE_SEND, {x, x, x});
  m.ports(MACH_MSG_TYPE_MAKE_SEND_ONCE, {x});
  m.ports(MACH_MSG_TYPE_MOVE_RECEIVE, {y});
  std::vector<uint8_t> big(9000, 0x5a);  // an 8 KiB+ buffer from the page allocator
  m.item(UserMsg::type(MACH_MSG_TYPE_BYTE, 8, static_cast<uint32_t>(big.size())), big.data(),
         big.size());
  KMsg* k;
  ASSERT_EQ(copyin_msg(a_, m.bytes(), &k), MACH_MSG_SUCCESS);
  EXPECT_NE(k->big, nullptr);
  Port* px = port_of(a_, x);
  EXPECT_EQ(px->srights, 3u);
  EXPECT_EQ(px->sorights, 1u);
  {
    IpcGuard g;
    kmsg_destroy(k);
  }
  EXPECT_EQ(kmsg_count(), 1u);  // the send-once notification for x's unused right
  EXPECT_EQ(header_of(receive(a_, x)).msgh_id, MACH_NOTIFY_SEND_ONCE);
  EXPECT_EQ(px->srights, 0u);
  EXPECT_EQ(px->sorights, 0u);
  EXPECT_EQ(px->refs, 1u);
  EXPECT_EQ(port_of(a_, rep)->srights, 0u);
  EXPECT_EQ(port_of(b_, srv)->srights, 0u);
  EXPECT_EQ(entry(a_, sa), nullptr);
  EXPECT_EQ(port_count(), 3u);  // y died with the message
  EXPECT_EQ(kmsg_count(), 0u);
}

// Random byte mutations of valid messages: copyin must fail cleanly or succeed, never
// crash (ASan, UBSan), and whatever it accepted must be deliverable or destroyable with
// every count back in order.
TEST_F(IpcKmsg, FuzzCopyin) {
  std::vector<mach_port_name_t> recv_a, recv_b, send_a;
  for (int i = 0; i < 6; ++i) recv_a.push_back(new_port(a_));
  for (int i = 0; i < 6; ++i) recv_b.push_back(new_port(b_));
  for (mach_port_name_t n : recv_b) send_a.push_back(give(b_, n, MACH_MSG_TYPE_MAKE_SEND, a_));
  for (mach_port_name_t n : recv_b) give(b_, n, MACH_MSG_TYPE_MAKE_SEND_ONCE, a_);
  mach_port_name_t set = MACH_PORT_NULL;
  ASSERT_EQ(mach_port_allocate(&a_, MACH_PORT_RIGHT_PORT_SET, &set), KERN_SUCCESS);
  mach_port_name_t dead = MACH_PORT_NULL;
  ASSERT_EQ(mach_port_allocate(&a_, MACH_PORT_RIGHT_DEAD_NAME, &dead), KERN_SUCCESS);
  uint64_t ports = port_count();

  std::mt19937 rng(2024);
  auto pick = [&](const std::vector<mach_port_name_t>& v) { return v[rng() % v.size()]; };
  auto any_name = [&]() -> mach_port_name_t {
    switch (rng() % 6) {
      case 0: return pick(recv_a);
      case 1: return pick(send_a);
      case 2: return set;
      case 3: return dead;
      case 4: return rng() % 40;
      default: return MACH_PORT_NULL;
    }
  };
  auto drain = [&] {
    IpcGuard g;
    for (IpcSpace* s : {&a_, &b_})
      s->for_each([&](IpcEntry* e) {
        if (!(e->type & MACH_PORT_TYPE_RECEIVE)) return;
        auto* p = static_cast<Port*>(e->object);
        while (KMsg* k = p->messages.pop_front()) {
          EXPECT_EQ(kmsg_copyout(s, k), MACH_MSG_SUCCESS);
          kmsg_free(k);
        }
      });
  };

  int accepted = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    // Keep a supply of rights to spend.
    if (iter % 50 == 0) {
      for (mach_port_name_t n : recv_b)
        if (type_of(b_, n) & MACH_PORT_TYPE_RECEIVE) give(b_, n, MACH_MSG_TYPE_MAKE_SEND, a_);
      for (mach_port_name_t& n : recv_a)
        if (!(type_of(a_, n) & MACH_PORT_TYPE_RECEIVE)) n = new_port(a_);
      ports = port_count();
    }
    UserMsg m(MACH_MSG_TYPE_COPY_SEND, pick(send_a), MACH_MSG_TYPE_MAKE_SEND_ONCE,
              pick(recv_a), static_cast<mach_msg_id_t>(rng()));
    m.ints({static_cast<int32_t>(rng())});
    static const unsigned kDisps[] = {MACH_MSG_TYPE_MOVE_RECEIVE, MACH_MSG_TYPE_MOVE_SEND,
                                      MACH_MSG_TYPE_MOVE_SEND_ONCE, MACH_MSG_TYPE_COPY_SEND,
                                      MACH_MSG_TYPE_MAKE_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE};
    for (unsigned i = rng() % 3; i > 0; --i) {
      if (rng() % 2) {
        m.ports(kDisps[rng() % 6], {any_name(), any_name()});
      } else {  // well formed
        static const unsigned kMake[] = {MACH_MSG_TYPE_MAKE_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE};
        if (rng() % 2)
          m.ports(kMake[rng() % 2], {pick(recv_a), pick(recv_a)});
        else
          m.ports(MACH_MSG_TYPE_COPY_SEND, {pick(send_a), MACH_PORT_NULL});
      }
    }
    std::vector<uint8_t>& b = m.bytes();
    for (unsigned i = rng() % 4; i > 0; --i) {  // sometimes none: valid messages too
      size_t at = rng() % b.size();
      switch (rng() % 3) {
        case 0: b[at] = static_cast<uint8_t>(rng()); break;
        case 1: b[at] ^= static_cast<uint8_t>(1u << (rng() % 8)); break;
        default: b[at] = static_cast<uint8_t>(any_name()); break;
      }
    }
    if (rng() % 8 == 0) b.resize(b.size() - 8 * (rng() % (b.size() / 8 - 3)));
    KMsg* k;
    if (copyin_msg(a_, b, &k) != MACH_MSG_SUCCESS) continue;
    ++accepted;
    IpcGuard g;
    auto* dest = reinterpret_cast<Port*>(k->header()->remote);
    ASSERT_TRUE(port_valid(dest));
    if (rng() % 2 || !dest->active || !dest->receiver) {
      kmsg_destroy(k);
    } else {
      // Delivered and received by whoever holds the receive right.
      IpcSpace* to = dest->receiver;
      EXPECT_EQ(kmsg_copyout(to, k), MACH_MSG_SUCCESS);
      kmsg_free(k);
    }
    if (iter % 100 == 0) {
      ipc_lock.unlock();
      drain();
      ipc_lock.lock();
      EXPECT_LE(port_count(), ports);  // messages never make ports
    }
  }
  drain();
  EXPECT_EQ(kmsg_count(), 0u);
  EXPECT_GT(accepted, 1000);  // of 4000
  // Every port's counts agree with the rights the two spaces hold.
  {
    IpcGuard g;
    std::map<Port*, std::pair<uint32_t, uint32_t>> held;  // srights, sorights
    for (IpcSpace* s : {&a_, &b_})
      s->for_each([&](IpcEntry* e) {
        IpcEntry* live = right_lookup(s, e->name);
        if (!live) return;
        if (live->type & MACH_PORT_TYPE_SEND) ++held[static_cast<Port*>(live->object)].first;
        if (live->type & MACH_PORT_TYPE_SEND_ONCE)
          ++held[static_cast<Port*>(live->object)].second;
      });
    for (auto& [p, c] : held) {
      if (!p->active) continue;
      EXPECT_EQ(p->srights, c.first);
      EXPECT_EQ(p->sorights, c.second);
    }
  }
}

}  // namespace
