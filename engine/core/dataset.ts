/**
 * The dataset on disk: the file names the synthesize stage writes into the run's dataset folder (and every
 * later stage reads), and the JSONL readers and writer for them.
 */
import * as fs from 'node:fs';
import { BbioError } from '../util/errors';
import type { Split, SynthExample } from './example';
import { CAPABILITIES } from './stage';

export const DATASET_FILES: Record<Split | 'card', string> = {
  train: 'train.jsonl',
  val: 'val.jsonl',
  test: 'test.jsonl',
  card: 'dataset-card.json',
};

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

/** The examples of one split file, each checked for the fields every stage relies on. */
export function readExamples(file: string): SynthExample[] {
  return readJsonl(file, (v) => {
    const ex = v as SynthExample;
    if (typeof ex?.prompt !== 'string' || typeof ex.response !== 'string' || !CAPABILITIES.includes(ex.capability)) throw new Error('not a valid example: missing prompt, response or capability');
    return ex;
  });
}

/** One JSON object a line, newline-terminated (empty string for no records). */
export function toJsonl(examples: readonly object[]): string {
  return examples.map((e) => JSON.stringify(e)).join('\n') + (examples.length ? '\n' : '');
}
