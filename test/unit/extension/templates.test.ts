import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { loadExperiment } from '../../../engine/config/load';
import { slugify, TEMPLATES } from '../../../extension/commands/templates';
import { tempDir } from '../../helpers/tmp';

test('every New Experiment template loads without problems (schema + semantic rules)', async (t) => {
  // as the command writes them: into <workspace>/experiments/, with runs in <workspace>/runs
  const dir = await tempDir(t);
  await mkdir(path.join(dir, 'experiments'));
  for (const tpl of TEMPLATES) {
    const file = path.join(dir, 'experiments', `${tpl.id}.bbio.yaml`);
    await writeFile(file, tpl.render(tpl.id));
    const { config, problems } = await loadExperiment(file, { paths: { workspace: [dir], allowed: [] } });
    assert.deepEqual(problems.filter((p) => p.severity === 'error'), [], `${tpl.id}: ${JSON.stringify(problems)}`);
    assert.equal(config?.name, tpl.id);
  }
});

test('slugify gives a valid experiment name', () => {
  assert.equal(slugify('  My Ablation #2 '), 'my-ablation-2');
  assert.equal(slugify('!!!'), 'experiment');
});
