import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { listDir } from '../../../engine/util/fs';
import { BbioError } from '../../../engine/util/errors';
import { tempDir } from '../../helpers/tmp';

test('listDir: a folder not made yet has no entries; a file in its place is E_IO naming it', async (t) => {
  const dir = await tempDir(t);
  assert.deepEqual(await listDir(path.join(dir, 'not-yet')), []);
  await writeFile(path.join(dir, 'a.json'), '{}');
  assert.deepEqual((await listDir(dir)).map((d) => [d.name, d.isFile()]), [['a.json', true]]);
  const file = path.join(dir, 'a.json');
  await assert.rejects(listDir(file), (e: unknown) => e instanceof BbioError && e.code === 'E_IO' && e.message.includes(file));
});
