/**
 * Training data for language-model stages: JSONL reading, packing tokenised documents into fixed windows
 * (nanoGPT-style: documents joined with bos/eos, cut into windows of T+1 tokens), and a seeded data order
 * that is a pure function of (seed, cursor), so a resumed run needs only the cursor.
 */
import * as fs from 'node:fs';
import { BbioError } from '../util/errors';
import { makeRng } from '../util/rng';

/**
 * Every line of a JSONL file, parsed and checked by `accept` (which throws a plain Error to reject); a bad
 * line is a BbioError naming file:line. Blank lines are skipped.
 */
export function readJsonl<T>(file: string, accept: (value: unknown) => T): T[] {
  let raw: string;
  try {
    raw = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new BbioError('E_FILE_MISSING', `cannot read ${file}`, { file }, 'run the synthesize stage first', { cause: e });
  }
  const out: T[] = [];
  raw.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    try {
      out.push(accept(JSON.parse(line)));
    } catch (e) {
      throw new BbioError('E_IO', `${file}:${i + 1}: ${(e as Error).message}`, { file, line: i + 1 }, 'each line is one JSON object', { cause: e });
    }
  });
  return out;
}

/** The `text` field of every line of a JSONL file (lines without one are an error naming the line). */
export function readJsonlTexts(file: string): string[] {
  return readJsonl(file, (v) => {
    const text = (v as { text?: unknown } | null)?.text;
    if (typeof text !== 'string') throw new Error('no "text" field');
    return text;
  });
}

/** Token windows of equal length T+1 (inputs = w[:-1], targets = w[1:]). */
export interface PackedData {
  windows: Int32Array[];
  seqLen: number;
}

/**
 * Joins documents as bos d₁ eos bos d₂ eos … and cuts windows of seqLen+1 tokens with stride seqLen (each
 * token is a target exactly once). A corpus shorter than one window gives one window of the whole stream.
 */
export function packDocuments(docs: readonly number[][], seqLen: number, special: { bosId: number; eosId: number }): PackedData {
  const total = docs.reduce((s, d) => s + d.length + 2, 0);
  const stream = new Int32Array(total);
  let k = 0;
  for (const d of docs) {
    stream[k++] = special.bosId;
    for (const t of d) stream[k++] = t;
    stream[k++] = special.eosId;
  }
  if (stream.length < 2) throw new BbioError('E_IO', 'the training corpus is empty');
  const T = Math.min(seqLen, stream.length - 1);
  const windows: Int32Array[] = [];
  for (let start = 0; start + T + 1 <= stream.length; start += T) windows.push(stream.slice(start, start + T + 1));
  return { windows, seqLen: T };
}

/**
 * Rows of batch number `cursor`: sample i of the run is window perm_e[i mod n] with e = ⌊i/n⌋ and perm_e
 * a shuffle seeded by (seed, e). Pure in (seed, cursor): resuming needs only the cursor.
 */
export class DataOrder {
  private epoch = -1;
  private perm: number[] = [];

  constructor(
    private readonly count: number,
    private readonly seed: number,
  ) {
    if (count < 1) throw new BbioError('E_IO', 'no training windows');
  }

  /** Window index of global sample i. */
  indexAt(i: number): number {
    const e = Math.floor(i / this.count);
    if (e !== this.epoch) {
      this.perm = makeRng(`${this.seed}:epoch:${e}`).shuffle(Array.from({ length: this.count }, (_, j) => j));
      this.epoch = e;
    }
    return this.perm[i % this.count]!;
  }

  batch(cursor: number, batchSize: number): number[] {
    return Array.from({ length: batchSize }, (_, b) => this.indexAt(cursor * batchSize + b));
  }
}
