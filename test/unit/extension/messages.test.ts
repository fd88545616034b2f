import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isCompareToHost, isDashboardToHost } from '../../../extension/views/messages';
import { assertNever } from '../../../extension/util/assert-never';

test('webview messages are checked by their discriminant before the host handles them', () => {
  assert.equal(isDashboardToHost({ type: 'ready' }), true);
  assert.equal(isDashboardToHost({ type: 'openRunFile', file: 'events' }), true);
  assert.equal(isDashboardToHost({ type: 'exportMarkdown' }), false, 'a compare message is not a dashboard message');
  assert.equal(isDashboardToHost(null), false);
  assert.equal(isDashboardToHost('ready'), false);
  assert.equal(isCompareToHost({ type: 'exportMarkdown' }), true);
  assert.equal(isCompareToHost({ type: 'cancelRun' }), false);
});

test('assertNever throws with the unexpected value', () => {
  assert.throws(() => assertNever('x' as never, 'message'), /unexpected message: "x"/);
});
