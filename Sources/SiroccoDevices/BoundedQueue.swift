// A bounded first-in, first-out queue with O(1) push and pop.

public struct BoundedQueue<Element> {
  var storage: [Element?]
  var head = 0
  public private(set) var count = 0

  public init(capacity: Int) {
    precondition(capacity > 0, "a queue needs room for one element")
    storage = [Element?](repeating: nil, count: capacity)
  }

  public var capacity: Int { storage.count }
  public var isEmpty: Bool { count == 0 }
  public var isFull: Bool { count == storage.count }

  /// Appends `element`; returns false (and drops it) when the queue is full.
  @discardableResult
  public mutating func push(_ element: Element) -> Bool {
    guard count < storage.count else { return false }
    storage[(head + count) % storage.count] = element
    count += 1
    return true
  }

  public mutating func pop() -> Element? {
    guard count > 0 else { return nil }
    let element = storage[head]
    storage[head] = nil
    head = (head + 1) % storage.count
    count -= 1
    return element
  }

  public var first: Element? { count > 0 ? storage[head] : nil }

  public mutating func removeAll() {
    while pop() != nil {}
  }
}
