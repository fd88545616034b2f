/**
 * Reading benchmark files in their published formats with errors that point at the record: a missing or
 * misnamed field is `file:line: field "sent1" missing (expected the question, a string)` as a BbioError
 * (E_DATA_RECORD) with a fix hint that names the format. JSONL files give the line of the record; a JSON
 * file keyed by id (PubMedQA's ori_pqal.json) gives the line where that id's key appears.
 */
import { readFile } from 'node:fs/promises';
import { BbioError, quoteExcerpt } from '../../util/errors';

export type Json = Record<string, unknown>;

/** Where a record sits, and the format it must follow (for messages). */
export interface RecordAt {
  file: string;
  line: number;
  /** e.g. `MedQA 4-option JSONL ({"sent1", "ending0".."ending3", "label"})`. */
  format: string;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return `the string ${quoteExcerpt(v)}`;
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}

export function recordError(at: RecordAt, message: string): BbioError {
  return new BbioError('E_DATA_RECORD', `${at.file}:${at.line}: ${message}`, { file: at.file, line: at.line, column: 1 }, `each record follows ${at.format}`);
}

/** A field that must be present and pass `ok`; `expected` says what it should be, for the message. */
export function field<T>(rec: Json, name: string, at: RecordAt, expected: string, ok: (v: unknown) => v is T): T {
  if (!Object.hasOwn(rec, name)) {
    const near = Object.keys(rec).find((k) => k.toLowerCase() === name.toLowerCase());
    throw recordError(at, `field "${name}" missing (expected ${expected})${near ? `; found "${near}"` : ''}`);
  }
  const v = rec[name];
  if (!ok(v)) throw recordError(at, `field "${name}" is ${describe(v)} (expected ${expected})`);
  return v;
}

export const isText = (v: unknown): v is string => typeof v === 'string' && v.trim() !== '';
export const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
export const isTexts = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
export const isObject = (v: unknown): v is Json => !!v && typeof v === 'object' && !Array.isArray(v);

export async function readText(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new BbioError(code === 'ENOENT' ? 'E_FILE_MISSING' : 'E_IO', `${what} not found or unreadable: ${file}`, { file }, 'give the path of the benchmark file (or a folder holding it) with --data', { cause: e });
  }
}

/** Every non-blank line of a JSONL file as an object, with its 1-based line number. */
export function parseJsonl(text: string, file: string, format: string): { rec: Json; at: RecordAt }[] {
  const out: { rec: Json; at: RecordAt }[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    const at = { file, line: i + 1, format };
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new BbioError('E_DATA_RECORD', `${file}:${i + 1}: not valid JSON: the line starts ${quoteExcerpt(line)}`, { file, line: i + 1, column: 1 }, `one JSON object a line: ${format}`, { cause: e });
    }
    if (!isObject(v)) throw recordError(at, `expected a JSON object; got ${describe(v)}`);
    out.push({ rec: v, at });
  });
  if (!out.length) throw new BbioError('E_DATA_RECORD', `${file}: no records`, { file, line: 1, column: 1 }, `one JSON object a line: ${format}`);
  return out;
}

/** The 1-based line on which `"key"` first appears in `text` (1 when absent). */
export function lineOfKey(text: string, key: string): number {
  const i = text.indexOf(JSON.stringify(key));
  return i < 0 ? 1 : text.slice(0, i).split('\n').length;
}
