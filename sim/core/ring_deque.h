// ring_deque.h
//
// `RingDeque<T>`: a first-in first-out queue in one contiguous ring of
// power-of-two capacity, for the per-event queues (a VP's work items and
// deferred effects, a channel's send queue). It grows by doubling and never
// shrinks, so a queue that fills and drains over and over allocates nothing
// once it has reached its largest size; a std::deque frees and allocates a
// block every few items there, and each new block is memory the cache has
// not seen. Elements keep their order; the iterators are random access and
// are invalidated by any push or erase.

#ifndef VMBSIM_SIM_CORE_RING_DEQUE_H_
#define VMBSIM_SIM_CORE_RING_DEQUE_H_

#include <cstddef>
#include <iterator>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

#include "sim/check.h"

namespace vmbsim::sim {

template <typename T>
class RingDeque {
 public:
  template <bool kConst>
  class Iterator {
   public:
    using iterator_category = std::random_access_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using pointer = std::conditional_t<kConst, const T*, T*>;
    using reference = std::conditional_t<kConst, const T&, T&>;
    using Owner = std::conditional_t<kConst, const RingDeque, RingDeque>;

    Iterator() = default;
    Iterator(Owner* owner, size_t index) : owner_(owner), index_(index) {}
    operator Iterator<true>() const { return Iterator<true>(owner_, index_); }  // NOLINT: as std's.

    reference operator*() const { return (*owner_)[index_]; }
    pointer operator->() const { return &(*owner_)[index_]; }
    reference operator[](difference_type n) const { return (*owner_)[index_ + n]; }
    Iterator& operator++() { ++index_; return *this; }
    Iterator operator++(int) { Iterator old = *this; ++index_; return old; }
    Iterator& operator--() { --index_; return *this; }
    Iterator operator--(int) { Iterator old = *this; --index_; return old; }
    Iterator& operator+=(difference_type n) { index_ += n; return *this; }
    Iterator& operator-=(difference_type n) { index_ -= n; return *this; }
    friend Iterator operator+(Iterator it, difference_type n) { return it += n; }
    friend Iterator operator+(difference_type n, Iterator it) { return it += n; }
    friend Iterator operator-(Iterator it, difference_type n) { return it -= n; }
    friend difference_type operator-(const Iterator& a, const Iterator& b) {
      return static_cast<difference_type>(a.index_) - static_cast<difference_type>(b.index_);
    }
    friend bool operator==(const Iterator& a, const Iterator& b) { return a.index_ == b.index_; }
    friend auto operator<=>(const Iterator& a, const Iterator& b) { return a.index_ <=> b.index_; }

   private:
    Owner* owner_ = nullptr;
    size_t index_ = 0;  // From the front.
  };
  using iterator = Iterator<false>;
  using const_iterator = Iterator<true>;
  using value_type = T;

  RingDeque() = default;
  RingDeque(RingDeque&& other) noexcept { Swap(other); }
  RingDeque& operator=(RingDeque&& other) noexcept {
    if (this != &other) {
      RingDeque gone;
      Swap(other);
      gone.Swap(other);
    }
    return *this;
  }
  RingDeque(const RingDeque&) = delete;
  RingDeque& operator=(const RingDeque&) = delete;
  ~RingDeque() {
    clear();
    ::operator delete(slots_, std::align_val_t{alignof(T)});
  }

  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }

  T& operator[](size_t i) { return slots_[(head_ + i) & mask_]; }
  const T& operator[](size_t i) const { return slots_[(head_ + i) & mask_]; }
  // REQUIRES: !empty().
  T& front() { return slots_[head_]; }
  const T& front() const { return slots_[head_]; }
  T& back() { return (*this)[size_ - 1]; }
  const T& back() const { return (*this)[size_ - 1]; }

  iterator begin() { return iterator(this, 0); }
  iterator end() { return iterator(this, size_); }
  const_iterator begin() const { return const_iterator(this, 0); }
  const_iterator end() const { return const_iterator(this, size_); }

  void push_back(T&& value) { emplace_back(std::move(value)); }
  void push_back(const T& value) { emplace_back(value); }
  template <typename... Args>
  T& emplace_back(Args&&... args) {
    if (size_ == capacity()) Grow();
    T* slot = &slots_[(head_ + size_) & mask_];
    ::new (static_cast<void*>(slot)) T(std::forward<Args>(args)...);
    ++size_;
    return *slot;
  }

  void pop_front() {
    VMBSIM_CHECK(size_ > 0);
    slots_[head_].~T();
    // Emptied, the ring starts again at its first slot, whose cache lines
    // are the recently used ones: a queue that drains often then stays in a
    // few lines instead of walking its whole capacity after one burst.
    head_ = --size_ == 0 ? 0 : (head_ + 1) & mask_;
  }

  void clear() { ShrinkTo(0); }

  void swap(RingDeque& other) noexcept { Swap(other); }

  // Removes the element at `pos`, keeping the others' order; returns the
  // position of the element that followed it.
  iterator erase(iterator pos) {
    const size_t index = static_cast<size_t>(pos - begin());
    VMBSIM_CHECK(index < size_);
    for (size_t i = index; i + 1 < size_; ++i) (*this)[i] = std::move((*this)[i + 1]);
    ShrinkTo(size_ - 1);
    return iterator(this, index);
  }

  // Drops the elements `pred` holds for, keeping the others' order; returns
  // how many it dropped.
  template <typename Pred>
  size_t EraseIf(Pred pred) {
    size_t kept = 0;
    for (size_t i = 0; i < size_; ++i) {
      T& element = (*this)[i];
      if (pred(static_cast<const T&>(element))) continue;
      if (kept != i) (*this)[kept] = std::move(element);
      ++kept;
    }
    const size_t dropped = size_ - kept;
    ShrinkTo(kept);
    return dropped;
  }

 private:
  size_t capacity() const { return slots_ == nullptr ? 0 : mask_ + 1; }

  // Destroys the elements from `new_size` on. Emptied, the ring starts
  // again at its first slot, as after pop_front.
  void ShrinkTo(size_t new_size) {
    for (size_t i = new_size; i < size_; ++i) (*this)[i].~T();
    size_ = new_size;
    if (size_ == 0) head_ = 0;
  }

  void Grow() {
    const size_t capacity_now = capacity();
    const size_t grown = capacity_now == 0 ? kFirstCapacity : capacity_now * 2;
    T* slots = static_cast<T*>(::operator new(grown * sizeof(T), std::align_val_t{alignof(T)}));
    for (size_t i = 0; i < size_; ++i) {
      T& from = (*this)[i];
      ::new (static_cast<void*>(&slots[i])) T(std::move(from));
      from.~T();
    }
    ::operator delete(slots_, std::align_val_t{alignof(T)});
    slots_ = slots;
    mask_ = grown - 1;
    head_ = 0;
  }

  void Swap(RingDeque& other) noexcept {
    std::swap(slots_, other.slots_);
    std::swap(mask_, other.mask_);
    std::swap(head_, other.head_);
    std::swap(size_, other.size_);
  }

  static constexpr size_t kFirstCapacity = 8;

  T* slots_ = nullptr;
  size_t mask_ = 0;  // capacity() - 1 once allocated.
  size_t head_ = 0;
  size_t size_ = 0;
};

}  // namespace vmbsim::sim

#endif  // VMBSIM_SIM_CORE_RING_DEQUE_H_
