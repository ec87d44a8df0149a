// A room's last lines, kept in memory as rxchat's message log keeps them (--history-max per
// room; src/store/memory.ts), so that same-work does the work History and resume ask of rxchat's
// protocol: every accepted line is kept until newer ones push it out. In the cheapest form a
// hand-written server would use: the line as built for the wire, no copy, in a circular array
// that grows as it fills.
export class LastLines<T> {
  private readonly buf: T[] = [];
  private next = 0;

  constructor(private readonly max: number) {}

  get length(): number {
    return this.buf.length;
  }

  push(x: T): void {
    if (this.buf.length < this.max) {
      this.buf.push(x);
      return;
    }
    this.buf[this.next] = x;
    this.next = (this.next + 1) % this.max;
  }
}
