/**
 * A first-in first-out queue with O(1) shift. `Array.prototype.shift` is O(n), which matters
 * for a delay line holding thousands of packets.
 */
export class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  /** Replaces the first item (for example with the rest of a chunk that was split). */
  replaceHead(item: T): void {
    if (this.length > 0) this.items[this.head] = item;
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head++;
    // Compact once the dead prefix dominates, so memory follows the live length.
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.head; i < this.items.length; i++) yield this.items[i] as T;
  }

  last(): T | undefined {
    return this.length > 0 ? this.items[this.items.length - 1] : undefined;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}
