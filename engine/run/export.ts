/**
 * Export a run's metric events to the tools researchers already use, with no server:
 *
 * - TensorBoard: one event file per stage (`<out>/<stage>/events.out.tfevents.<secs>.balancedbio`), each a
 *   TFRecord stream (u64 length, masked CRC32C of the length, payload, masked CRC32C of the payload) of
 *   `tensorflow.Event` protobufs: first `file_version: "brain.Event:2"`, then one `summary { value { tag,
 *   simple_value } }` per metric event. The few protobuf fields needed are encoded by hand
 *   (tensorflow/core/util/event.proto, tensorflow/core/framework/summary.proto).
 * - CSV: one row per metric event: t, step, stage, name, labels, value (RFC 4180 quoting).
 * - MLflow: the file store layout (`mlruns/0/<run_id>/{meta.yaml, metrics/<key>, params/<key>, tags/<key>}`),
 *   metric lines `timestamp value step`, params from the resolved experiment.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import writeFileAtomic from 'write-file-atomic';
import type { EngineEvent } from '../../schemas/generated/events';
import { readEvents, RUN_FILES } from './store';
import { BbioError } from '../util/errors';
import { sha256 } from '../util/provenance';

export type ExportFormat = 'tensorboard' | 'csv' | 'mlflow';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['tensorboard', 'csv', 'mlflow'];

export interface MetricRow {
  /** ms since the epoch. */
  t: number;
  step: number | undefined;
  stage: string | undefined;
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function metricRows(events: readonly EngineEvent[]): MetricRow[] {
  const rows: MetricRow[] = [];
  for (const e of events) {
    if (e.kind !== 'metric' || !Number.isFinite(e.value)) continue;
    const labels = Object.fromEntries(Object.entries(e.labels ?? {}).filter((kv): kv is [string, string] => kv[1] !== undefined).sort(([a], [b]) => a.localeCompare(b)));
    rows.push({ t: e.t, step: e.step, stage: e.stage, name: e.name, labels, value: e.value });
  }
  return rows;
}

/** Metric name plus its labels in key order: `eval/score/metric=acc/model=base/suite=domain`. */
export function seriesTag(row: Pick<MetricRow, 'name' | 'labels'>): string {
  return [row.name, ...Object.entries(row.labels).map(([k, v]) => `${k}=${v}`)].join('/');
}

// ------------------------------------------------------------------------------------------ TensorBoard

/** CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven; the table is built per call site. */
export function makeCrc32c(): (data: Uint8Array) => number {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return (data) => {
    let crc = 0xffffffff;
    for (const b of data) crc = table[(crc ^ b) & 0xff]! ^ (crc >>> 8);
    return (crc ^ 0xffffffff) >>> 0;
  };
}

/** TFRecord's masked CRC: rotate right by 15 and add 0xa282ead8 (tensorflow/core/lib/hash/crc32c.h). */
export function maskCrc(crc: number): number {
  return (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0;
}

function varint(n: number | bigint): number[] {
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n; // int64 two's complement, as protobuf encodes negative int64
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return out;
}

const key = (field: number, wire: number): number[] => varint((field << 3) | wire);

function lengthDelimited(field: number, bytes: Uint8Array | number[]): number[] {
  return [...key(field, 2), ...varint(bytes.length), ...bytes];
}

function double(field: number, x: number): number[] {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(x);
  return [...key(field, 1), ...b];
}

function float(field: number, x: number): number[] {
  const b = Buffer.alloc(4);
  b.writeFloatLE(x);
  return [...key(field, 5), ...b];
}

/** Event { wall_time = 1 (double); step = 2 (int64); file_version = 3 | summary = 5 }. */
export function encodeEvent(e: { wallTime: number; step: number; fileVersion?: string; scalar?: { tag: string; value: number } }): Uint8Array {
  const bytes = [...double(1, e.wallTime), ...(e.step ? [...key(2, 0), ...varint(Math.trunc(e.step))] : [])];
  if (e.fileVersion !== undefined) bytes.push(...lengthDelimited(3, Buffer.from(e.fileVersion, 'utf8')));
  if (e.scalar) {
    // Summary { repeated Value value = 1 }, Value { string tag = 1; float simple_value = 2 }
    const value = [...lengthDelimited(1, Buffer.from(e.scalar.tag, 'utf8')), ...float(2, e.scalar.value)];
    bytes.push(...lengthDelimited(5, lengthDelimited(1, value)));
  }
  return Uint8Array.from(bytes);
}

/** One TFRecord: length (u64 LE), masked CRC of the length, data, masked CRC of the data. */
export function tfrecord(data: Uint8Array, crc32c: (d: Uint8Array) => number): Buffer {
  const head = Buffer.alloc(12);
  head.writeBigUInt64LE(BigInt(data.length), 0);
  head.writeUInt32LE(maskCrc(crc32c(head.subarray(0, 8))), 8);
  const tail = Buffer.alloc(4);
  tail.writeUInt32LE(maskCrc(crc32c(data)), 0);
  return Buffer.concat([head, data, tail]);
}

export async function writeTensorboard(rows: readonly MetricRow[], outDir: string): Promise<string[]> {
  const crc = makeCrc32c();
  const byStage = new Map<string, MetricRow[]>();
  for (const r of rows) {
    const s = r.stage ?? 'run';
    byStage.set(s, [...(byStage.get(s) ?? []), r]);
  }
  const files: string[] = [];
  for (const [stage, list] of byStage) {
    const t0 = list[0]!.t;
    const records = [tfrecord(encodeEvent({ wallTime: t0 / 1000, step: 0, fileVersion: 'brain.Event:2' }), crc)];
    for (const r of list) records.push(tfrecord(encodeEvent({ wallTime: r.t / 1000, step: r.step ?? 0, scalar: { tag: seriesTag(r), value: r.value } }), crc));
    const dir = path.join(outDir, stage);
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, `events.out.tfevents.${Math.floor(t0 / 1000)}.balancedbio`);
    await writeFileAtomic(file, Buffer.concat(records));
    files.push(file);
  }
  return files;
}

// ------------------------------------------------------------------------------------------------- CSV

/** RFC 4180 field: quoted when it holds a comma, quote, CR or LF (quotes doubled), or leading/trailing space. */
export function csvField(value: string | number | undefined): string {
  const s = value === undefined ? '' : String(value);
  return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export const CSV_HEADER = ['t', 'step', 'stage', 'name', 'labels', 'value'] as const;

export function toCsv(rows: readonly MetricRow[]): string {
  const lines = [CSV_HEADER.join(',')];
  for (const r of rows) {
    const labels = Object.entries(r.labels).map(([k, v]) => `${k}=${v}`).join(';');
    lines.push([new Date(r.t).toISOString(), r.step, r.stage, r.name, labels, r.value].map(csvField).join(','));
  }
  return lines.join('\r\n') + '\r\n';
}

// ---------------------------------------------------------------------------------------------- MLflow

/** MLflow allows alphanumerics, _ - . space / in keys; anything else becomes _. */
export function mlflowKey(s: string): string {
  return s.replace(/[^\w\-. /]/g, '_').replace(/^\/+|\/+$/g, '');
}

/** Flattens a config object to dotted keys (arrays and scalars as JSON / text). */
export function flattenParams(obj: unknown, prefix = ''): Record<string, string> {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return prefix ? { [prefix]: typeof obj === 'string' ? obj : JSON.stringify(obj) } : {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) Object.assign(out, flattenParams(v, prefix ? `${prefix}.${k}` : k));
  return out;
}

export async function writeMlflow(rows: readonly MetricRow[], outDir: string, run: { runId: string; params: Record<string, string> }): Promise<string[]> {
  const runUuid = sha256(run.runId).slice(0, 32);
  const root = path.join(outDir, 'mlruns');
  const expDir = path.join(root, '0');
  const runDir = path.join(expDir, runUuid);
  const start = rows.length ? Math.min(...rows.map((r) => r.t)) : Date.now();
  const end = rows.length ? Math.max(...rows.map((r) => r.t)) : start;
  const files: string[] = [];
  const put = async (file: string, text: string): Promise<void> => {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, text);
    files.push(file);
  };
  await put(path.join(expDir, 'meta.yaml'), `artifact_location: file://${expDir}\ncreation_time: ${start}\nexperiment_id: '0'\nlast_update_time: ${end}\nlifecycle_stage: active\nname: Default\n`);
  await put(
    path.join(runDir, 'meta.yaml'),
    `artifact_uri: file://${path.join(runDir, 'artifacts')}\nend_time: ${end}\nentry_point_name: ''\nexperiment_id: '0'\nlifecycle_stage: active\nrun_id: ${runUuid}\nrun_name: ${JSON.stringify(run.runId)}\nrun_uuid: ${runUuid}\nsource_name: ''\nsource_type: 4\nsource_version: ''\nstart_time: ${start}\nstatus: 3\ntags: []\nuser_id: balancedbio\n`,
  );
  const series = new Map<string, string[]>();
  for (const r of rows) {
    const k = mlflowKey([r.name, ...Object.entries(r.labels).map(([lk, v]) => `${lk}.${v}`)].join('/'));
    series.set(k, [...(series.get(k) ?? []), `${r.t} ${r.value} ${r.step ?? 0}`]);
  }
  for (const [k, lines] of series) await put(path.join(runDir, 'metrics', k), lines.join('\n') + '\n');
  for (const [k, v] of Object.entries(run.params)) await put(path.join(runDir, 'params', mlflowKey(k)), v);
  await put(path.join(runDir, 'tags', 'mlflow.runName'), run.runId);
  await put(path.join(runDir, 'tags', 'mlflow.source.name'), 'balancedbio');
  await mkdir(path.join(runDir, 'artifacts'), { recursive: true });
  return files;
}

// ------------------------------------------------------------------------------------------------- run

export interface ExportResult {
  format: ExportFormat;
  out: string;
  files: string[];
  metrics: number;
}

async function runParams(runDir: string): Promise<Record<string, string>> {
  try {
    return flattenParams(parseYaml(await readFile(path.join(runDir, RUN_FILES.experiment), 'utf8')));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {}; // a run folder without its config: no params
    throw new BbioError('E_RUN_CORRUPT', `cannot read ${RUN_FILES.experiment} of ${runDir}: ${(e as Error).message}`, { file: runDir }, undefined, { cause: e });
  }
}

const WRITERS: Record<ExportFormat, (rows: readonly MetricRow[], out: string, runDir: string) => Promise<string[]>> = {
  tensorboard: (rows, out) => writeTensorboard(rows, out),
  csv: async (rows, out) => {
    const file = path.join(out, 'metrics.csv');
    await writeFileAtomic(file, toCsv(rows));
    return [file];
  },
  mlflow: async (rows, out, runDir) => writeMlflow(rows, out, { runId: path.basename(runDir), params: await runParams(runDir) }),
};

/** Exports runDir's events.jsonl metrics; `out` defaults to `<runDir>/exports/<format>`. */
export async function exportRun(runDir: string, opts: { to: ExportFormat; out?: string }): Promise<ExportResult> {
  if (!EXPORT_FORMATS.includes(opts.to)) throw new BbioError('E_USAGE', `unknown export format "${String(opts.to)}"`, {}, `use one of ${EXPORT_FORMATS.join(', ')}`);
  const { events } = await readEvents(runDir);
  const rows = metricRows(events);
  const out = path.resolve(opts.out ?? path.join(runDir, 'exports', opts.to));
  await mkdir(out, { recursive: true });
  return { format: opts.to, out, files: await WRITERS[opts.to](rows, out, runDir), metrics: rows.length };
}
