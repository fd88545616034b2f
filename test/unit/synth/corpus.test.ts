import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildKnowledgeCorpus, KNOWLEDGE_FILE } from '../../../engine/synth/corpus';
import { buildSynthGraph, nameOf } from '../../../engine/synth/graph';
import { synthesize } from '../../../engine/synth/index';
import { toJsonl } from '../../../engine/core/dataset';
import { CHAT_MARKERS } from '../../../engine/core/chat';
import { pretrainTexts } from '../../../engine/train/pretrain-stage';
import { silentLogger } from '../../../engine/util/log';
import { makeRng } from '../../../engine/util/rng';
import { tempDir } from '../../helpers/tmp';
import { loadFixture, synthConfig } from './fixture';

const ont = loadFixture();
const g = buildSynthGraph(ont);
const corpus = buildKnowledgeCorpus(g, makeRng(3), { passages: 2, maxFacts: 12 });

test('the knowledge corpus names every entity of the graph, held-out ones included', async () => {
  const r = await synthesize(ont, synthConfig(), { seed: 7, log: silentLogger });
  const heldOut = new Set([...r.val, ...r.test].map((e) => e.provenance.central));
  assert.ok(heldOut.size > 0);
  for (const id of g.ids) {
    const docs = corpus.filter((d) => d.entity === id);
    assert.ok(docs.length >= 2, `${id}: ${docs.length} passages`);
    assert.ok(docs.every((d) => d.text.toLowerCase().includes(nameOf(g, id).toLowerCase())), `${id}'s passages name it`);
  }
  // a held-out entity's relations are stated: some passage about it names a neighbour
  for (const id of heldOut) {
    const neighbours = [...(g.out.get(id)?.values() ?? [])].flat().map((n) => nameOf(g, n).toLowerCase());
    if (!neighbours.length) continue;
    assert.ok(corpus.some((d) => d.entity === id && neighbours.some((n) => d.text.toLowerCase().includes(n))), `${id}: a relation is stated`);
  }
});

test('no corpus line uses a question template', async () => {
  const r = await synthesize(ont, synthConfig(), { seed: 7, log: silentLogger });
  // the opening words of every question the generators write, with entity names masked (a template's
  // own words, not the entity it was filled with)
  const names = g.ids.flatMap((id) => [nameOf(g, id), ...g.terms.get(id)!.synonyms.map((x) => x.text)]).sort((a, b) => b.length - a.length);
  const defs = g.ids.map((id) => g.terms.get(id)!.def?.replace(/\.$/, '')).filter((d): d is string => !!d).sort((a, b) => b.length - a.length);
  // a sentence's first four template words (names and definitions are content, not template); '' when too short to tell
  const opening = (text: string): string => {
    let t = text.toLowerCase();
    for (const d of defs) t = t.replaceAll(d.toLowerCase(), ' ');
    for (const n of names) t = t.replaceAll(n.toLowerCase(), ' ');
    const words = t.split(/[\s"]+/).filter((w) => /[a-z]/.test(w));
    return words.length >= 4 ? words.slice(0, 4).join(' ') : '';
  };
  // the sentences of every question (a prompt with a '?' or an option list "A. …")
  const questions = [...r.train, ...r.val, ...r.test].flatMap((e) => {
    const [stem, ...rest] = e.prompt.split(/\s(?=A[.)]\s)/);
    const sentences = stem!.split(/(?<=[.?:])\s+/);
    return rest.length || e.prompt.includes('?') ? sentences : [];
  });
  assert.ok(questions.length > 100, `${questions.length} question sentences`);
  // a question's own wording: an interrogative or imperative opening ("which …", "select the …")
  const asking = /\b(which|what|how|who|why|select|identify|choose|name|list)\b/;
  const openings = new Set(questions.map(opening).filter((o) => asking.test(o)));
  assert.ok(openings.size > 10, `${openings.size} question openings`);
  for (const d of corpus) {
    assert.doesNotMatch(d.text, /\?/, `a question mark: ${d.text}`);
    assert.doesNotMatch(d.text, /(^|\n)\s*[A-E][.)]\s/, `an option list: ${d.text}`);
    assert.doesNotMatch(d.text, /answer\s*:/i, `an answer line: ${d.text}`);
    for (const m of Object.values(CHAT_MARKERS)) assert.ok(!d.text.includes(m), `a chat marker: ${d.text}`);
    for (const sentence of d.text.split(/(?<=[.:])\s+(?=[A-Z])/)) assert.ok(!openings.has(opening(sentence)), `"${sentence}" starts like a question prompt`);
  }
  // phrasing varies: an entity's passages are not copies of each other
  const byEntity = new Map<string, Set<string>>();
  for (const d of corpus) byEntity.set(d.entity, (byEntity.get(d.entity) ?? new Set()).add(d.text));
  const varied = [...byEntity.values()].filter((s) => s.size > 1).length;
  assert.ok(varied / byEntity.size > 0.5, `${varied} of ${byEntity.size} entities have varied passages`);
});

test('pretrain.corpus chooses the documents: knowledge and train by default, either alone', async (t) => {
  const dir = await tempDir(t, 'bbio-corpus-');
  const r = await synthesize(ont, synthConfig(), { seed: 7, log: silentLogger });
  await writeFile(path.join(dir, 'train.jsonl'), toJsonl(r.train));
  assert.throws(() => pretrainTexts(dir, 'knowledge_and_train'), /knowledge corpus/);
  await writeFile(path.join(dir, KNOWLEDGE_FILE), toJsonl(corpus));
  assert.equal(pretrainTexts(dir, 'knowledge_and_train').length, corpus.length + r.train.length);
  assert.deepEqual(pretrainTexts(dir, 'knowledge'), corpus.map((d) => d.text));
  assert.deepEqual(pretrainTexts(dir, 'train'), r.train.map((e) => e.text));
});

test('the corpus lays facts out as text is laid out: newlines, lists, quotes, braces, brackets, parentheses, bold and <<titles>> all occur', () => {
  const all = corpus.map((d) => d.text).join('\n');
  for (const c of ['\n', '"', '{', '}', '[', ']', '(', ')', '*', '<<', '>>', '\n- ', '\n1. ', '## ']) assert.ok(all.includes(c), `${JSON.stringify(c)} never occurs`);
  // every layout still states facts about its entity: a JSON record parses and names it
  const records = corpus.filter((d) => d.text.startsWith('{'));
  assert.ok(records.length > 0);
  for (const r of records) {
    const obj = JSON.parse(r.text) as { entry: string; facts: string[] };
    assert.equal(obj.entry.toLowerCase(), nameOf(g, r.entity).toLowerCase());
    assert.ok(obj.facts.length > 0);
  }
});
