/**
 * Pure logic of the run inspector: the GRPO rollout groups logged in events.jsonl (`record` type
 * rollouts), the training set (artifacts/data/train.jsonl) as dataset rows with their ontology provenance
 * and, for the examples the SFT stage previewed (`record` type examples), the tokens the loss is computed
 * on. Everything from the run's files is read defensively: a field of the wrong type is dropped, not thrown.
 * No vscode import; unit-tested.
 */
import type { EngineEvent } from '../../schemas/generated/events';
import { isObj, num, str } from '../util/read';
import type { ChatFrame, DatasetPage, DatasetQuery, DatasetRow, RolloutCompletion, RolloutGroup, RolloutStep, TokenPreview } from './messages';

export const DATASET_PAGE_SIZE = 25;


function completion(v: unknown): RolloutCompletion | undefined {
  if (!isObj(v)) return undefined;
  const text = str(v['text']);
  if (text === undefined) return undefined;
  const components: Record<string, number> = {};
  if (isObj(v['components'])) for (const [k, x] of Object.entries(v['components'])) if (num(x) !== undefined) components[k] = x as number;
  return { text, truncated: v['truncated'] === true, reward: num(v['reward']), advantage: num(v['advantage']), components, extracted: str(v['extracted']) ?? '' };
}

function group(v: unknown): RolloutGroup | undefined {
  if (!isObj(v) || !Array.isArray(v['completions'])) return undefined;
  const completions = v['completions'].map(completion).filter((c): c is RolloutCompletion => c !== undefined);
  return { capability: str(v['capability']) ?? '?', exampleId: str(v['exampleId']) ?? '', prompt: str(v['prompt']) ?? '', gold: str(v['gold']) ?? '', completions };
}

/** Every logged rollout step, in step order (a resumed stage that logs a step again replaces it). */
export function rolloutsFrom(events: readonly EngineEvent[]): RolloutStep[] {
  const byStep = new Map<number, RolloutStep>();
  for (const e of events) {
    if (e.kind !== 'record' || e.type !== 'rollouts' || e.step === undefined || !isObj(e.data) || !Array.isArray(e.data['groups'])) continue;
    const groups = e.data['groups'].map(group).filter((g): g is RolloutGroup => g !== undefined);
    byStep.set(e.step, { step: e.step, groups });
  }
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

/** The token previews of the latest `examples` record, by example id. */
export function tokenPreviewsFrom(events: readonly EngineEvent[]): Map<string, TokenPreview> {
  const out = new Map<string, TokenPreview>();
  for (const e of events) {
    if (e.kind !== 'record' || e.type !== 'examples' || !isObj(e.data) || !Array.isArray(e.data['examples'])) continue;
    out.clear();
    for (const x of e.data['examples']) {
      if (!isObj(x) || typeof x['id'] !== 'string' || !Array.isArray(x['pieces'])) continue;
      const pieces = x['pieces'].filter((p): p is string => typeof p === 'string');
      const trainedFrom = num(x['trainedFrom']);
      if (pieces.length !== x['pieces'].length || trainedFrom === undefined) continue;
      out.set(x['id'], { pieces, trainedFrom });
    }
  }
  return out;
}

/** A `[before, after]` pair of strings; undefined for anything else. */
function pair(v: unknown): [string, string] | undefined {
  return Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string' ? [v[0], v[1]] : undefined;
}

/** The chat format's frame of the latest `examples` record: how SFT wrote every example's prompt and answer. */
export function chatFrameFrom(events: readonly EngineEvent[]): ChatFrame | undefined {
  let out: ChatFrame | undefined;
  for (const e of events) {
    if (e.kind !== 'record' || e.type !== 'examples' || !isObj(e.data)) continue;
    const f = e.data['frame'];
    const prompt = isObj(f) ? pair(f['prompt']) : undefined;
    const response = isObj(f) ? pair(f['response']) : undefined;
    out = prompt && response ? { prompt, response } : undefined;
  }
  return out;
}

/** `BBIO:1 --is_a--> BBIO:2` for an edge object; undefined for anything else. */
function edgeText(v: unknown): string | undefined {
  if (!isObj(v)) return undefined;
  const s = str(v['source']);
  const r = str(v['relation']);
  const t = str(v['target']);
  return s && r && t ? `${s} —${r}→ ${t}` : undefined;
}

/** One train.jsonl record as a preview row; undefined when it lacks prompt/response/capability. */
export function datasetRow(v: unknown, line: number, file: string, previews: ReadonlyMap<string, TokenPreview>, frame?: ChatFrame): DatasetRow | undefined {
  if (!isObj(v)) return undefined;
  const prompt = str(v['prompt']);
  const response = str(v['response']);
  const capability = str(v['capability']);
  if (prompt === undefined || response === undefined || !capability) return undefined;
  const id = str(v['id']) ?? `${file}:${line}`;
  const template = str(v['template']);
  let provenance: DatasetRow['provenance'];
  const p = v['provenance'];
  if (isObj(p)) {
    const entities = Array.isArray(p['entities']) ? p['entities'].filter((x): x is string => typeof x === 'string') : [];
    const edges = Array.isArray(p['edges']) ? p['edges'].map(edgeText).filter((x): x is string => x !== undefined) : [];
    const q = isObj(p['query']) ? p['query'] : undefined;
    // the question as an edge with the unknown end as `?`: `? —treats→ gout` asks what treats gout
    const query = q && str(q['subject']) && str(q['relation']) ? (q['inverse'] === true ? `? —${str(q['relation'])}→ ${str(q['subject'])}` : `${str(q['subject'])} —${str(q['relation'])}→ ?`) : undefined;
    // user files carry no ontology facts: their `central` is a question hash, not an ontology id
    if (entities.length || edges.length) provenance = { ...(str(p['central']) ? { central: str(p['central'])! } : {}), entities, edges, ...(query ? { query } : {}) };
  }
  return {
    id,
    capability,
    template,
    specialty: str(v['specialty']),
    prompt,
    response,
    answer: str(v['answer']),
    provenance,
    source: template?.startsWith('real/') ? `${file}:${line} (user file record ${id})` : undefined,
    tokens: previews.get(id),
    rendered: frame ? { context: frame.prompt[0] + prompt + frame.prompt[1], trained: frame.response[0] + response + frame.response[1] } : undefined,
  };
}

/** Parses train.jsonl text into rows; counts lines that are not JSON or not examples. */
export function parseDataset(text: string, file: string, previews: ReadonlyMap<string, TokenPreview>, frame?: ChatFrame): { rows: DatasetRow[]; badLines: number } {
  const rows: DatasetRow[] = [];
  let badLines = 0;
  const lines = text.split('\n');
  lines.forEach((l, i) => {
    if (!l.trim()) return;
    let v: unknown;
    try {
      v = JSON.parse(l);
    } catch {
      badLines++;
      return;
    }
    const row = datasetRow(v, i + 1, file, previews, frame);
    if (row) rows.push(row);
    else badLines++;
  });
  return { rows, badLines };
}

/**
 * One page of the rows matching a query: capability (exact) and text (every word, case-insensitive, in
 * the prompt, response, answer, id, template or provenance). Examples with a token preview come first
 * within the matches, so the first page shows what the model trains on.
 */
export function queryDataset(rows: readonly DatasetRow[], q: DatasetQuery, file: string, pageSize = DATASET_PAGE_SIZE): DatasetPage {
  const capabilities: Record<string, number> = {};
  for (const r of rows) capabilities[r.capability] = (capabilities[r.capability] ?? 0) + 1;
  const words = q.text.toLowerCase().split(/\s+/).filter(Boolean);
  const matched = rows.filter((r) => {
    if (q.capability && r.capability !== q.capability) return false;
    if (!words.length) return true;
    const hay = [r.id, r.prompt, r.response, r.answer ?? '', r.template ?? '', r.specialty ?? '', ...(r.provenance?.entities ?? []), ...(r.provenance?.edges ?? [])].join('\n').toLowerCase();
    return words.every((w) => hay.includes(w));
  });
  const ordered = [...matched.filter((r) => r.tokens), ...matched.filter((r) => !r.tokens)];
  const pages = Math.max(1, Math.ceil(ordered.length / pageSize));
  const page = Math.min(Math.max(0, Math.floor(q.page)), pages - 1);
  return { file, total: rows.length, matched: ordered.length, page, pageSize, capabilities, rows: ordered.slice(page * pageSize, (page + 1) * pageSize) };
}

/**
 * How a completion's extracted answer compares with the gold one: `match` when they are equal after
 * case and whitespace folding, `none` when nothing was extracted, else `differs`. A display aid only:
 * the reward functions decide correctness (and accept synonyms), this does not.
 */
export function answerMatch(extracted: string, gold: string): 'match' | 'differs' | 'none' {
  const fold = (s: string): string => s.toLowerCase().replace(/\s+/g, ' ').trim();
  if (!extracted.trim()) return 'none';
  return fold(extracted) === fold(gold) ? 'match' : 'differs';
}
