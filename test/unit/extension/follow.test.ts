import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SizeFollower } from '../../../extension/runs/follow';

/** A follower on a fake file whose timers the test fires by hand. */
function harness(sizes: (number | undefined | Error)[]) {
  const timers: (() => void)[] = [];
  let cleared = 0;
  let changes = 0;
  const errors: unknown[] = [];
  let i = 0;
  const follower = new SizeFollower({
    size: () => {
      const s = sizes[Math.min(i++, sizes.length - 1)];
      return s instanceof Error ? Promise.reject(s) : Promise.resolve(s);
    },
    onChange: () => changes++,
    onError: (e) => errors.push(e),
    intervalMs: 2000,
    setTimer: (fn) => timers.push(fn),
    clearTimer: () => cleared++,
  });
  return { follower, timers, errors, changes: () => changes, cleared: () => cleared };
}

describe('SizeFollower (a dashboard following a run written from another machine)', () => {
  test('reports growth once per change, not the bytes already read', async () => {
    const h = harness([100, 100, 180, 180]);
    h.follower.start(100);
    assert.equal(h.timers.length, 1);
    await h.follower.poll(); // 100: what was read already
    assert.equal(h.changes(), 0);
    await h.follower.poll(); // 100 again
    await h.follower.poll(); // 180: new events
    assert.equal(h.changes(), 1);
    await h.follower.poll(); // 180: nothing new
    assert.equal(h.changes(), 1);
  });

  test('a read triggered elsewhere moves the known size on, so it is not reported again', async () => {
    const h = harness([250]);
    h.follower.start(100);
    h.follower.start(250); // the watcher fired and the panel read up to 250 bytes
    await h.follower.poll();
    assert.equal(h.changes(), 0);
    assert.equal(h.timers.length, 2, 'start() while running does not add a second timer');
  });

  test('a file that appears, or shrinks because it was replaced, counts as a change', async () => {
    const h = harness([undefined, 40, 10]);
    h.follower.start(undefined);
    await h.follower.poll();
    assert.equal(h.changes(), 0);
    await h.follower.poll();
    await h.follower.poll();
    assert.equal(h.changes(), 2);
  });

  test('a failing stat is reported and polling goes on', async () => {
    const h = harness([new Error('ESTALE: stale file handle'), 300]);
    h.follower.start(100);
    await h.follower.poll();
    assert.match(String(h.errors[0]), /ESTALE/);
    assert.ok(h.follower.active);
    await h.follower.poll();
    assert.equal(h.changes(), 1);
  });

  test('stop() ends polling: no change is reported and no timer is left', async () => {
    const h = harness([500]);
    h.follower.start(100);
    h.follower.stop();
    assert.equal(h.cleared(), 1);
    assert.equal(h.follower.active, false);
    const before = h.timers.length;
    await h.follower.poll(); // a poll already under way when the run ended
    assert.equal(h.changes(), 0);
    assert.equal(h.timers.length, before, 'nothing rescheduled');
  });
});
