// IntrusiveList: order, O(1) size, removal anywhere, iteration, constant initialization.
#include <gtest/gtest.h>

#include <vector>

#include "kern/queue.h"

namespace {

struct Item {
  int value = 0;
  QueueLink link;
  QueueLink other;  // a second list through a second link
};

using List = IntrusiveList<Item, &Item::link>;
using OtherList = IntrusiveList<Item, &Item::other>;

std::vector<int> values(const List& l) {
  std::vector<int> v;
  for (Item* i : l) v.push_back(i->value);
  return v;
}

// Constant-initialized: no constructor runs for it.
constinit List g_list;

TEST(Queue, EmptyList) {
  List l;
  EXPECT_TRUE(l.empty());
  EXPECT_EQ(l.size(), 0u);
  EXPECT_EQ(l.front(), nullptr);
  EXPECT_EQ(l.back(), nullptr);
  EXPECT_EQ(l.pop_front(), nullptr);
  EXPECT_EQ(l.begin(), l.end());
}

TEST(Queue, PushBackIsFifo) {
  Item items[4];
  List l;
  for (int i = 0; i < 4; ++i) {
    items[i].value = i;
    l.push_back(&items[i]);
    EXPECT_EQ(l.size(), static_cast<size_t>(i + 1));
  }
  EXPECT_EQ(values(l), (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(l.front(), &items[0]);
  EXPECT_EQ(l.back(), &items[3]);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(l.pop_front(), &items[i]);
  EXPECT_TRUE(l.empty());
}

TEST(Queue, PushFrontIsLifo) {
  Item items[3];
  List l;
  for (int i = 0; i < 3; ++i) {
    items[i].value = i;
    l.push_front(&items[i]);
  }
  EXPECT_EQ(values(l), (std::vector<int>{2, 1, 0}));
  EXPECT_EQ(l.back(), &items[0]);
}

TEST(Queue, RemoveHeadMiddleTail) {
  Item items[5];
  List l;
  for (int i = 0; i < 5; ++i) {
    items[i].value = i;
    l.push_back(&items[i]);
  }
  l.remove(&items[2]);
  EXPECT_EQ(values(l), (std::vector<int>{0, 1, 3, 4}));
  l.remove(&items[0]);
  EXPECT_EQ(values(l), (std::vector<int>{1, 3, 4}));
  l.remove(&items[4]);
  EXPECT_EQ(values(l), (std::vector<int>{1, 3}));
  EXPECT_EQ(l.size(), 2u);
  EXPECT_EQ(l.front(), &items[1]);
  EXPECT_EQ(l.back(), &items[3]);
  l.remove(&items[1]);
  l.remove(&items[3]);
  EXPECT_TRUE(l.empty());
  EXPECT_EQ(l.back(), nullptr);
  // A removed element can go on again.
  l.push_back(&items[2]);
  EXPECT_EQ(values(l), (std::vector<int>{2}));
  l.remove(&items[2]);
}

TEST(Queue, TwoListsThroughTwoLinks) {
  Item items[3];
  List a;
  OtherList b;
  for (int i = 0; i < 3; ++i) {
    items[i].value = i;
    a.push_back(&items[i]);
    b.push_front(&items[i]);
  }
  a.remove(&items[1]);
  EXPECT_EQ(values(a), (std::vector<int>{0, 2}));
  std::vector<int> vb;
  for (Item* i : b) vb.push_back(i->value);
  EXPECT_EQ(vb, (std::vector<int>{2, 1, 0}));
  EXPECT_EQ(OtherList::from_link(&items[1].other), &items[1]);
}

TEST(Queue, ConstantInitializedGlobal) {
  EXPECT_TRUE(g_list.empty());
  Item it;
  g_list.push_back(&it);
  EXPECT_EQ(g_list.front(), &it);
  EXPECT_EQ(g_list.pop_front(), &it);
  EXPECT_TRUE(g_list.empty());
}

TEST(Queue, Reset) {
  Item items[2];
  List l;
  l.push_back(&items[0]);
  l.push_back(&items[1]);
  l.reset();
  EXPECT_TRUE(l.empty());
  EXPECT_EQ(l.size(), 0u);
}

TEST(QueueDeathTest, RemoveFromWrongListIsCaught) {
  Item a, b;
  List l1, l2;
  l1.push_back(&a);
  l2.push_back(&b);
  EXPECT_DEATH(l1.remove(&b), "assertion failed");
}

TEST(QueueDeathTest, RemoveFromEmptyListIsCaught) {
  Item a;
  List l;
  EXPECT_DEATH(l.remove(&a), "assertion failed");
}

}  // namespace
