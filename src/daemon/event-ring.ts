/** A fixed-size ring of the most recent items; old ones fall off the front. */
export class Ring<T> {
  private readonly items: T[] = [];
  constructor(private readonly capacity: number) {}

  push(item: T): void {
    this.items.push(item);
    if (this.items.length > this.capacity) this.items.shift();
  }

  toArray(): T[] {
    return [...this.items];
  }
}
