import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO } from '../../helpers/tmp';

interface Manifest {
  activationEvents: string[];
  contributes: { commands: { command: string; title: string }[]; menus: Record<string, { command: string }[]> };
}
const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as Manifest;
const registered = new Set([...readFileSync(path.join(REPO, 'extension/commands/register.ts'), 'utf8').matchAll(/reg\('([^']+)'/g)].map((m) => m[1]!));

test('every contributed command is registered, and every registered command is contributed', () => {
  const contributed = pkg.contributes.commands.map((c) => c.command);
  assert.deepEqual(contributed.filter((c) => !registered.has(c)), [], 'contributed but never registered: the palette would show a dead command');
  assert.deepEqual([...registered].filter((c) => !contributed.includes(c)), [], 'registered but not contributed: no title in the palette or menus');
  assert.equal(new Set(contributed).size, contributed.length, 'a command is contributed twice');
});

test('menus only name contributed commands; every webview has an activation event for its serializer', () => {
  const contributed = new Set(pkg.contributes.commands.map((c) => c.command));
  for (const [menu, items] of Object.entries(pkg.contributes.menus)) for (const i of items) assert.ok(contributed.has(i.command), `${menu}: ${i.command}`);
  const views = [...readFileSync(path.join(REPO, 'extension/views/dashboard-panel.ts'), 'utf8').matchAll(/VIEW_TYPE = '([^']+)'/g), ...readFileSync(path.join(REPO, 'extension/views/inspector-panel.ts'), 'utf8').matchAll(/VIEW_TYPE = '([^']+)'/g)].map((m) => m[1]!);
  assert.deepEqual(views.sort(), ['balancedbio.dashboard', 'balancedbio.inspector']);
  for (const v of views) assert.ok(pkg.activationEvents.includes(`onWebviewPanel:${v}`), v);
});

test('the run layout the editor reads is where the engine writes', async () => {
  const { RUN_FILES } = await import('../../../schemas/run-layout');
  const { OUTPUT_PATHS } = await import('../../../engine/core/stage');
  assert.equal(RUN_FILES.trainData, `${OUTPUT_PATHS.dataset}/train.jsonl`);
});
