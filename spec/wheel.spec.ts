// The timer wheel (src/edge/wheel.ts): an RxJS scheduler of coarse time, one timer
// for everything it holds. In virtual time on a TestScheduler, then on the real clock.
import { Subject, Subscription, asyncScheduler, timeout } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { TimerWheel } from '../src/edge/wheel';

function virtual(): { base: TestScheduler; wheel: TimerWheel; fired: Array<[string, number]>; at: (name: string, delay: number) => Subscription } {
  const base = new TestScheduler((a, b) => expect(a).toEqual(b));
  base.maxFrames = Infinity;
  const wheel = new TimerWheel(1000, base);
  const fired: Array<[string, number]> = [];
  const at = (name: string, delay: number) => wheel.schedule(() => fired.push([name, base.now()]), delay);
  return { base, wheel, fired, at };
}

describe('TimerWheel', () => {
  it('runs work at the first slot edge at or after its due time: never early, at most one slot late', () => {
    const { base, fired, at } = virtual();
    base.schedule(() => at('a', 1), 0);
    base.schedule(() => at('b', 1000), 0);
    base.schedule(() => at('c', 1001), 0);
    base.schedule(() => at('d', 500), 2500);
    base.flush();
    expect(fired).toEqual([['a', 1000], ['b', 1000], ['c', 2000], ['d', 3000]]);
  });

  it('moves work that is scheduled again (a re-arm) to its new slot', () => {
    const { base, wheel, fired } = virtual();
    const work = wheel.schedule(function () {
      fired.push(['w', base.now()]);
    }, 1500);
    base.schedule(() => work.unsubscribe(), 1200);
    base.schedule(() => wheel.schedule(() => fired.push(['re-armed', base.now()]), 1500), 1200);
    base.flush();
    expect(fired).toEqual([['re-armed', 3000]]);
  });

  it('lets work schedule itself again, as interval does', () => {
    const { base, wheel, fired } = virtual();
    const s = wheel.schedule(function (n?: number) {
      fired.push([`tick ${n}`, base.now()]);
      if (n! < 3) this.schedule(n! + 1, 1000);
    }, 1000, 1);
    base.flush();
    expect(fired).toEqual([['tick 1', 1000], ['tick 2', 2000], ['tick 3', 3000]]);
    expect(s.closed).toBe(false);
  });

  it('puts work scheduled for now while a slot runs into the next slot, so work that reschedules itself cannot loop', () => {
    const { base, wheel, fired } = virtual();
    wheel.schedule(function (n?: number) {
      fired.push([`now ${n}`, base.now()]);
      if (n! < 2) this.schedule(n! + 1, 0);
    }, 1000, 0);
    base.flush();
    expect(fired).toEqual([['now 0', 1000], ['now 1', 2000], ['now 2', 3000]]);
  });

  it('cancels work that is unsubscribed, and holds no timer once empty', async () => {
    const { base, wheel, fired, at } = virtual();
    const a = at('a', 5000);
    at('b', 5000);
    const c = at('c', 9000);
    expect(wheel.size).toBe(3);
    a.unsubscribe();
    c.unsubscribe();
    expect(wheel.size).toBe(1);
    base.flush();
    expect(fired).toEqual([['b', 5000]]);
    expect(wheel.size).toBe(0);
    at('d', 1000).unsubscribe();
    await Promise.resolve();
    expect(base.actions.filter((x) => !x.closed)).toEqual([]);
  });

  it('is the scheduler of RxJS timeout: it fires within a slot of its due time, a value re-arms it, unsubscribing cancels it', () => {
    const { base, wheel } = virtual();
    base.run(({ cold, expectObservable }) => {
      expectObservable(cold('-').pipe(timeout({ each: 2500, scheduler: wheel }))).toBe('3000ms #', undefined, expect.anything());
      expectObservable(cold('1000ms a 1999ms b').pipe(timeout({ each: 2500, scheduler: wheel }))).toBe('1000ms a 1999ms b 2999ms #', undefined, expect.anything());
      expectObservable(cold('-').pipe(timeout({ each: 2500, scheduler: wheel })), '^ 2999ms !').toBe('-');
    });
    expect(wheel.size).toBe(0);
  });

  it('holds one Node timer for thousands of timeouts, and a value re-arms none', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const wheel = new TimerWheel(25_000, asyncScheduler);
    const sources = Array.from({ length: 5000 }, () => new Subject<number>());
    const subs = sources.map((s) => s.pipe(timeout({ each: 60_000, scheduler: wheel })).subscribe({ error: () => undefined }));
    expect(wheel.size).toBe(5000);
    expect(timers() - before).toBe(1);
    for (const s of sources) s.next(1);
    expect(wheel.size).toBe(5000);
    expect(timers() - before).toBe(1);
    for (const s of subs) s.unsubscribe();
    await Promise.resolve();
    expect(wheel.size).toBe(0);
    expect(timers() - before).toBe(0);
  });
});
