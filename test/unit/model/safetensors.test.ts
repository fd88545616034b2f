import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../../helpers/tmp';
import { parseSafetensors, readCheckpointWeights, readSafetensors, serializeSafetensors, writeSafetensors, type TensorMap } from '../../../engine/model/safetensors';

function build(entries: Array<{ name: string; dtype: string; shape: number[]; bytes: Buffer }>): Buffer {
  const header: Record<string, unknown> = {};
  let off = 0;
  for (const e of entries) { header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [off, off + e.bytes.length] }; off += e.bytes.length; }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8); len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, ...entries.map((e) => e.bytes)]);
}

test('F32 round trip keeps names, shapes, bits and metadata; data is 8-byte aligned', async (t) => {
  const m: TensorMap = new Map([
    ['b.weight', { shape: [2, 3], data: new Float32Array([1, -2, 3.5, 1e-30, -0, 7]) }],
    ['a', { shape: [1], data: new Float32Array([Math.PI]) }],
  ]);
  const buf = serializeSafetensors(m, { format: 'pt' });
  assert.equal((8 + Number(buf.readBigUInt64LE(0))) % 8, 0);
  const file = path.join(await tempDir(t, 'bbio-st-'), 'x.safetensors');
  await writeSafetensors(file, m);
  const back = readSafetensors(file);
  assert.deepEqual([...back.tensors.keys()].sort(), ['a', 'b.weight']);
  assert.deepEqual(back.tensors.get('b.weight')!.shape, [2, 3]);
  assert.deepEqual(Array.from(back.tensors.get('b.weight')!.data), Array.from(m.get('b.weight')!.data));
  assert.equal(back.tensors.get('a')!.data[0], Math.fround(Math.PI));
  assert.equal(back.metadata.format, 'pt');
});

test('F16 and BF16 decode (normal, subnormal, negative, infinity)', () => {
  const f16 = Buffer.alloc(10);
  // 1.0 = 0x3C00, -2.5 = 0xC100, 65504 = 0x7BFF, smallest subnormal 2^-24 = 0x0001, +inf = 0x7C00
  [0x3c00, 0xc100, 0x7bff, 0x0001, 0x7c00].forEach((h, i) => f16.writeUInt16LE(h, i * 2));
  const bf16 = Buffer.alloc(6);
  // 1.0 = 0x3F80, -3.0 = 0xC040, 0.15625 = 0x3E20
  [0x3f80, 0xc040, 0x3e20].forEach((h, i) => bf16.writeUInt16LE(h, i * 2));
  const { tensors } = parseSafetensors(build([
    { name: 'h', dtype: 'F16', shape: [5], bytes: f16 },
    { name: 'b', dtype: 'BF16', shape: [3], bytes: bf16 },
  ]));
  assert.deepEqual(Array.from(tensors.get('h')!.data), [1, -2.5, 65504, 2 ** -24, Infinity]);
  assert.deepEqual(Array.from(tensors.get('b')!.data), [1, -3, 0.15625]);
});

test('unsupported dtypes and truncated files are E_CHECKPOINT errors', () => {
  assert.throws(() => parseSafetensors(build([{ name: 'i', dtype: 'I64', shape: [1], bytes: Buffer.alloc(8) }])), /dtype I64/);
  assert.throws(() => parseSafetensors(Buffer.alloc(4)), /too short/);
});

test('sharded checkpoints load through model.safetensors.index.json', async (t) => {
  const dir = await tempDir(t, 'bbio-shard-');
  await writeSafetensors(path.join(dir, 'model-00001-of-00002.safetensors'), new Map([['x', { shape: [2], data: new Float32Array([1, 2]) }]]));
  await writeSafetensors(path.join(dir, 'model-00002-of-00002.safetensors'), new Map([['y', { shape: [1], data: new Float32Array([3]) }]]));
  fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: { x: 'model-00001-of-00002.safetensors', y: 'model-00002-of-00002.safetensors' } }));
  const all = readCheckpointWeights(dir);
  assert.deepEqual(Array.from(all.get('x')!.data), [1, 2]);
  assert.deepEqual(Array.from(all.get('y')!.data), [3]);
});
