/**
 * Training data for language-model stages (the JSONL readers are engine/core/dataset.ts): packing tokenised documents into fixed windows
 * (nanoGPT-style: documents joined with bos/eos, cut into windows of T+1 tokens), and a seeded data order
 * that is a pure function of (seed, cursor), so a resumed run needs only the cursor.
 */
import { BbioError } from '../util/errors';
import { makeRng } from '../util/rng';

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
