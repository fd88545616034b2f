import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { csvField, exportRun, seriesTag } from '../../../engine/run/export';
import type { EngineEvent } from '../../../schemas/generated/events';
import { tempDir } from '../../helpers/tmp';

// ---- an independent reader: bitwise CRC-32C and a generic protobuf field decoder (not the writer's code)

function crc32cBitwise(bytes: Uint8Array): number {
  let crc = ~0 >>> 0;
  for (const b of bytes) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = (crc >>> 1) ^ (0x82f63b78 & -(crc & 1));
  }
  return ~crc >>> 0;
}
const masked = (c: number): number => ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) % 2 ** 32;

interface Field { no: number; wire: number; value: bigint | Uint8Array }

function readVarint(buf: Uint8Array, at: { i: number }): bigint {
  let shift = 0n;
  let out = 0n;
  for (;;) {
    const b = buf[at.i++]!;
    out |= BigInt(b & 0x7f) << shift;
    if (!(b & 0x80)) return out;
    shift += 7n;
  }
}

function decodeFields(buf: Uint8Array): Field[] {
  const fields: Field[] = [];
  const at = { i: 0 };
  while (at.i < buf.length) {
    const tag = Number(readVarint(buf, at));
    const no = tag >> 3;
    const wire = tag & 7;
    if (wire === 0) fields.push({ no, wire, value: readVarint(buf, at) });
    else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      fields.push({ no, wire, value: buf.slice(at.i, at.i + n) });
      at.i += n;
    } else if (wire === 2) {
      const n = Number(readVarint(buf, at));
      fields.push({ no, wire, value: buf.slice(at.i, at.i + n) });
      at.i += n;
    } else throw new Error(`unexpected wire type ${wire}`);
  }
  return fields;
}

function readTfRecords(file: Buffer): Uint8Array[] {
  const out: Uint8Array[] = [];
  let i = 0;
  while (i < file.length) {
    const lenBytes = file.subarray(i, i + 8);
    const len = Number(file.readBigUInt64LE(i));
    assert.equal(file.readUInt32LE(i + 8), masked(crc32cBitwise(lenBytes)), 'length CRC');
    const data = file.subarray(i + 12, i + 12 + len);
    assert.equal(file.readUInt32LE(i + 12 + len), masked(crc32cBitwise(data)), 'data CRC');
    out.push(Uint8Array.from(data));
    i += 12 + len + 4;
  }
  return out;
}

function event(t: number, name: string, value: number, extra: Partial<{ step: number; stage: string; labels: Record<string, string> }> = {}): EngineEvent {
  return { v: 1, t, runId: 'r1', kind: 'metric', name, value, ...extra } as EngineEvent;
}

async function fakeRun(t: Parameters<typeof tempDir>[0]): Promise<{ runDir: string; events: EngineEvent[] }> {
  const runDir = path.join(await tempDir(t), '20260101-000000-demo');
  const events: EngineEvent[] = [
    { v: 1, t: 1_700_000_000_000, runId: 'r1', kind: 'phase', stage: 'sft', status: 'started' } as EngineEvent,
    event(1_700_000_000_100, 'sft/loss', 2.5, { step: 1, stage: 'sft' }),
    event(1_700_000_000_200, 'sft/loss', 1.25, { step: 300, stage: 'sft' }),
    event(1_700_000_001_000, 'eval/score', 0.75, { stage: 'evaluate', labels: { suite: 'domain', model: 'base', metric: 'acc' } }),
    event(1_700_000_001_001, 'eval/score', 0.5, { stage: 'evaluate', labels: { suite: 'reasoning, "hard"', model: 'sft', metric: 'answer_acc' } }),
  ];
  await (await import('node:fs/promises')).mkdir(runDir, { recursive: true });
  await writeFile(path.join(runDir, 'events.jsonl'), events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  await writeFile(path.join(runDir, 'experiment.yaml'), 'name: demo\nseed: 3\nsft:\n  steps: 300\n  projection: pcgrad\n');
  return { runDir, events };
}

test('TensorBoard export: TFRecord framing with masked CRC32C, Event/Summary protobufs read back by an independent decoder', async (t) => {
  const { runDir } = await fakeRun(t);
  const r = await exportRun(runDir, { to: 'tensorboard' });
  assert.equal(r.metrics, 4);
  const stages = (await readdir(r.out)).sort();
  assert.deepEqual(stages, ['evaluate', 'sft']);
  const sftFile = path.join(r.out, 'sft', (await readdir(path.join(r.out, 'sft')))[0]!);
  assert.match(path.basename(sftFile), /^events\.out\.tfevents\.\d+\./);
  const records = readTfRecords(await readFile(sftFile));
  assert.equal(records.length, 3, 'file_version + 2 scalars');
  const first = decodeFields(records[0]!);
  assert.equal(Buffer.from(first.find((f) => f.no === 3)!.value as Uint8Array).toString(), 'brain.Event:2');
  const scalars = records.slice(1).map((rec) => {
    const f = decodeFields(rec);
    const wall = Buffer.from(f.find((x) => x.no === 1)!.value as Uint8Array).readDoubleLE(0);
    const step = Number((f.find((x) => x.no === 2)?.value as bigint | undefined) ?? 0n);
    const summary = decodeFields(f.find((x) => x.no === 5)!.value as Uint8Array);
    const value = decodeFields(summary.find((x) => x.no === 1)!.value as Uint8Array);
    return {
      wall,
      step,
      tag: Buffer.from(value.find((x) => x.no === 1)!.value as Uint8Array).toString(),
      simple: Buffer.from(value.find((x) => x.no === 2 && x.wire === 5)!.value as Uint8Array).readFloatLE(0),
    };
  });
  assert.deepEqual(scalars, [
    { wall: 1_700_000_000.1, step: 1, tag: 'sft/loss', simple: 2.5 },
    { wall: 1_700_000_000.2, step: 300, tag: 'sft/loss', simple: 1.25 },
  ]);
  const evalRecords = readTfRecords(await readFile(path.join(r.out, 'evaluate', (await readdir(path.join(r.out, 'evaluate')))[0]!)));
  const tag = Buffer.from(decodeFields(decodeFields(decodeFields(evalRecords[1]!).find((x) => x.no === 5)!.value as Uint8Array)[0]!.value as Uint8Array)[0]!.value as Uint8Array).toString();
  assert.equal(tag, 'eval/score/metric=acc/model=base/suite=domain', 'tag = metric name + labels in key order');
  assert.equal(seriesTag({ name: 'x', labels: {} }), 'x');
});

test('CSV export: one row per metric event, quoted where needed, parsed back by csv-parse', async (t) => {
  const { runDir } = await fakeRun(t);
  const r = await exportRun(runDir, { to: 'csv', out: path.join(runDir, 'out') });
  const rows = parse(await readFile(r.files[0]!, 'utf8'), { columns: true }) as Record<string, string>[];
  assert.equal(rows.length, 4);
  assert.deepEqual(Object.keys(rows[0]!), ['t', 'step', 'stage', 'name', 'labels', 'value']);
  assert.deepEqual(rows[1], { t: new Date(1_700_000_000_200).toISOString(), step: '300', stage: 'sft', name: 'sft/loss', labels: '', value: '1.25' });
  assert.equal(rows[3]!.labels, 'metric=answer_acc;model=sft;suite=reasoning, "hard"');
  assert.equal(rows[2]!.step, '');
  assert.equal(csvField('a,"b"\nc'), '"a,""b""\nc"');
  assert.equal(csvField('plain'), 'plain');
});

test('MLflow export: file-store layout with metric lines "timestamp value step" and params from the resolved config', async (t) => {
  const { runDir } = await fakeRun(t);
  const r = await exportRun(runDir, { to: 'mlflow' });
  const exp = path.join(r.out, 'mlruns', '0');
  const [runId] = (await readdir(exp)).filter((f) => f !== 'meta.yaml');
  assert.match(runId!, /^[0-9a-f]{32}$/);
  const meta = await readFile(path.join(exp, runId!, 'meta.yaml'), 'utf8');
  assert.match(meta, new RegExp(`run_id: ${runId}`));
  assert.match(meta, /status: 3/);
  assert.equal(await readFile(path.join(exp, runId!, 'metrics', 'sft', 'loss'), 'utf8'), '1700000000100 2.5 1\n1700000000200 1.25 300\n');
  assert.equal(await readFile(path.join(exp, runId!, 'metrics', 'eval', 'score', 'metric.acc', 'model.base', 'suite.domain'), 'utf8'), '1700000001000 0.75 0\n');
  assert.equal(await readFile(path.join(exp, runId!, 'params', 'sft.projection'), 'utf8'), 'pcgrad');
  assert.equal(await readFile(path.join(exp, runId!, 'params', 'seed'), 'utf8'), '3');
  assert.equal(await readFile(path.join(exp, runId!, 'tags', 'mlflow.runName'), 'utf8'), path.basename(runDir));
  assert.match(await readFile(path.join(exp, 'meta.yaml'), 'utf8'), /experiment_id: '0'/);
});
