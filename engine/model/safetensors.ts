/**
 * safetensors I/O (format: https://github.com/huggingface/safetensors — 8-byte little-endian header length,
 * a JSON header `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {...}}`, then the raw
 * little-endian tensor bytes). We write F32 and read F32, F16 and BF16 (converted to Float32Array), plus
 * sharded checkpoints through `model.safetensors.index.json` (`{weight_map: {name: file}}`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { BbioError } from '../util/errors';

/** A host tensor: row-major Float32 data and its shape. */
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

export type TensorMap = Map<string, HostTensor>;

type Dtype = 'F32' | 'F16' | 'BF16';
const BYTES: Record<Dtype, number> = { F32: 4, F16: 2, BF16: 2 };

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** IEEE 754 half → float. */
function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // subnormal: frac · 2^-14 · 2^-10
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function decode(dtype: Dtype, bytes: Buffer, count: number, name: string): Float32Array {
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength !== count * BYTES[dtype]) {
    throw new BbioError('E_CHECKPOINT', `tensor "${name}": ${bytes.byteLength} bytes for ${count} ${dtype} values`);
  }
  switch (dtype) {
    case 'F32':
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
      break;
    case 'F16':
      for (let i = 0; i < count; i++) out[i] = f16ToF32(view.getUint16(i * 2, true));
      break;
    case 'BF16': {
      // bfloat16 is the top half of a float32.
      const u32 = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) u32[i] = view.getUint16(i * 2, true) << 16;
      break;
    }
  }
  return out;
}

/** Parses a safetensors buffer. Unsupported dtypes are an E_CHECKPOINT error naming the tensor. */
export function parseSafetensors(buf: Buffer, file = '<buffer>'): { tensors: TensorMap; metadata: Record<string, string> } {
  if (buf.byteLength < 8) throw new BbioError('E_CHECKPOINT', `${file}: too short for a safetensors file`);
  const headerLen = Number(buf.readBigUInt64LE(0));
  if (headerLen > buf.byteLength - 8) throw new BbioError('E_CHECKPOINT', `${file}: header length ${headerLen} exceeds file size`);
  let header: Record<string, HeaderEntry | Record<string, string>>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8'));
  } catch (e) {
    throw new BbioError('E_CHECKPOINT', `${file}: header is not JSON`, { file }, undefined, { cause: e });
  }
  const dataStart = 8 + headerLen;
  const tensors: TensorMap = new Map();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as HeaderEntry;
    if (!(e.dtype in BYTES)) {
      throw new BbioError('E_CHECKPOINT', `${file}: tensor "${name}" has dtype ${e.dtype}; supported: F32, F16, BF16`, { file });
    }
    const [begin, end] = e.data_offsets;
    if (end > buf.byteLength - dataStart || begin > end) throw new BbioError('E_CHECKPOINT', `${file}: tensor "${name}" lies outside the file`, { file });
    tensors.set(name, { shape: [...e.shape], data: decode(e.dtype as Dtype, buf.subarray(dataStart + begin, dataStart + end), numel(e.shape), name) });
  }
  return { tensors, metadata };
}

export function readSafetensors(file: string): { tensors: TensorMap; metadata: Record<string, string> } {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new BbioError('E_FILE_MISSING', `cannot read ${file}`, { file }, undefined, { cause: e });
  }
  return parseSafetensors(buf, file);
}

/** Serialises tensors as F32 safetensors (names sorted, as the reference writer does; 8-byte aligned data). */
export function serializeSafetensors(tensors: TensorMap, metadata: Record<string, string> = {}): Buffer {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    if (t.data.length !== numel(t.shape)) throw new BbioError('E_INTERNAL', `tensor "${name}": ${t.data.length} values for shape [${t.shape}]`);
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.length * 4] };
    offset += t.data.length * 4;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data starts 8-byte aligned (allowed by the format).
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += ' ';
  const headerBytes = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let pos = 8 + headerBytes.length;
  for (const name of names) {
    const t = tensors.get(name)!;
    // Copy explicitly as little-endian (every platform Node runs on is LE, but say so).
    Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).copy(out, pos);
    pos += t.data.byteLength;
  }
  return out;
}

/** Writes a safetensors file atomically (temp file + rename). */
export async function writeSafetensors(file: string, tensors: TensorMap, metadata: Record<string, string> = { format: 'pt' }): Promise<void> {
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, serializeSafetensors(tensors, metadata));
}

/**
 * Reads all weights of a checkpoint directory: `model.safetensors`, or the shards named by
 * `model.safetensors.index.json`.
 */
export function readCheckpointWeights(dir: string): TensorMap {
  const single = path.join(dir, 'model.safetensors');
  if (fs.existsSync(single)) return readSafetensors(single).tensors;
  const indexFile = path.join(dir, 'model.safetensors.index.json');
  if (!fs.existsSync(indexFile)) {
    throw new BbioError('E_FILE_MISSING', `${dir} has neither model.safetensors nor model.safetensors.index.json`, { file: dir });
  }
  let index: { weight_map?: Record<string, string> };
  try {
    index = JSON.parse(fs.readFileSync(indexFile, 'utf8'));
  } catch (e) {
    throw new BbioError('E_CHECKPOINT', `${indexFile} is not valid JSON`, { file: indexFile }, undefined, { cause: e });
  }
  if (!index.weight_map) throw new BbioError('E_CHECKPOINT', `${indexFile} has no weight_map`, { file: indexFile });
  const out: TensorMap = new Map();
  for (const shard of new Set(Object.values(index.weight_map))) {
    for (const [name, t] of readSafetensors(path.join(dir, shard)).tensors) out.set(name, t);
  }
  for (const name of Object.keys(index.weight_map)) {
    if (!out.has(name)) throw new BbioError('E_CHECKPOINT', `${indexFile} maps "${name}" to a shard that lacks it`, { file: indexFile });
  }
  return out;
}
