/**
 * MMLU-format multiple choice (Hendrycks et al., ICLR 2021): CSV files with rows
 * `question,A,B,C,D,answer` and no header, one file per subject named `<subject>_test.csv`, with few-shot
 * examples in `<subject>_dev.csv` beside it (the layout of the MMLU data folders). Parsed with csv-parse so
 * quoted fields with commas, quotes and newlines are read correctly. Prompts follow the original format.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { BbioError } from '../util/errors';

export const LETTERS = ['A', 'B', 'C', 'D'] as const;
export type Letter = (typeof LETTERS)[number];

export interface McItem {
  question: string;
  options: [string, string, string, string];
  answer: Letter;
}

export interface MmluSubject {
  subject: string;
  file: string;
  items: McItem[];
  /** Few-shot pool from the matching _dev.csv (empty when absent). */
  dev: McItem[];
}

export function parseMmluCsv(text: string, file: string): McItem[] {
  let rows: string[][];
  try {
    rows = parse(text, { relax_column_count: false, skip_empty_lines: true, bom: true }) as string[][];
  } catch (e) {
    const line = (e as { lines?: number }).lines;
    throw new BbioError('E_IO', `${file}: not a valid CSV: ${(e as Error).message}`, { file, ...(line ? { line } : {}) }, 'rows are question,A,B,C,D,answer with no header; quote fields that contain commas', { cause: e });
  }
  return rows.map((r, i) => {
    if (r.length !== 6) throw new BbioError('E_IO', `${file}: row ${i + 1} has ${r.length} fields, expected 6 (question,A,B,C,D,answer)`, { file, line: i + 1 }, 'MMLU rows have no header and exactly six fields');
    const answer = r[5]!.trim().toUpperCase();
    if (!(LETTERS as readonly string[]).includes(answer)) throw new BbioError('E_IO', `${file}: row ${i + 1} has answer "${r[5]}", expected A, B, C or D`, { file, line: i + 1 }, 'the sixth field is the letter of the right option');
    return { question: r[0]!, options: [r[1]!, r[2]!, r[3]!, r[4]!], answer: answer as Letter };
  });
}

function subjectOf(file: string): string {
  return path.basename(file, '.csv').replace(/_(test|val|dev)$/, '');
}

/** Loads a CSV file or every `*_test.csv` in a folder (or every .csv when there are no _test files). */
export async function loadMmlu(target: string, opts: { subjects?: readonly string[] } = {}): Promise<MmluSubject[]> {
  let files: string[];
  try {
    const st = await stat(target);
    if (st.isDirectory()) {
      const all = (await readdir(target)).filter((f) => f.endsWith('.csv')).sort();
      const tests = all.filter((f) => f.endsWith('_test.csv'));
      files = (tests.length ? tests : all.filter((f) => !f.endsWith('_dev.csv'))).map((f) => path.join(target, f));
    } else files = [target];
  } catch (e) {
    throw new BbioError('E_FILE_MISSING', `MMLU path not found: ${target}`, { file: target }, 'give a CSV file or a folder of <subject>_test.csv files', { cause: e });
  }
  if (opts.subjects?.length) files = files.filter((f) => opts.subjects!.includes(subjectOf(f)));
  if (!files.length) throw new BbioError('E_FILE_MISSING', `no MMLU CSV files in ${target}${opts.subjects?.length ? ` for subjects ${opts.subjects.join(', ')}` : ''}`, { file: target }, 'expected files like clinical_knowledge_test.csv');
  return Promise.all(
    files.map(async (file) => {
      const items = parseMmluCsv(await readFile(file, 'utf8'), file);
      const devFile = file.replace(/_test\.csv$/, '_dev.csv');
      const dev = devFile !== file ? await readFile(devFile, 'utf8').then((t) => parseMmluCsv(t, devFile), () => []) : [];
      return { subject: subjectOf(file), file, items, dev };
    }),
  );
}

function formatItem(item: McItem, withAnswer: boolean): string {
  const opts = item.options.map((o, i) => `${LETTERS[i]}. ${o}`).join('\n');
  return `${item.question}\n${opts}\nAnswer:${withAnswer ? ` ${item.answer}\n\n` : ''}`;
}

/** The prompt of the original MMLU evaluation: header, k dev examples with answers, then the question. */
export function mmluPrompt(subject: string, item: McItem, shots: readonly McItem[]): string {
  const header = `The following are multiple choice questions (with answers) about ${subject.replace(/_/g, ' ')}.\n\n`;
  return header + shots.map((s) => formatItem(s, true)).join('') + formatItem(item, false);
}
