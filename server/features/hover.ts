/**
 * Hover: schema documentation for keys (and the chosen value of enums), dotted override paths of
 * `variants:` included; definition, synonyms, parents and relations for ontology terms; the last run's
 * status and metric values on a stage section; the memory estimate on `model` and `grpo`.
 */
import path from 'node:path';
import { displayRunStatus } from '../../schemas/run-writer';
import { MarkupKind, type CancellationToken, type Hover, type Position } from 'vscode-languageserver';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import { isScalar } from 'yaml';
import type { PathSegment } from '../../engine/config/positions';
import type { Analysis } from '../analysis';
import type { TermDetail } from '../ontology/messages';
import { formatNumber, formatScores, formatSummary } from '../runs';
import { nodeAt } from '../yaml-context';
import { offsetOf, throwIfCancelled, type FeatureContext } from './context';
import { isTermField } from './diagnostics';
import { formatEstimate, memoryEstimateOf } from './memory';
import { schemaAt, schemaMarkdown } from './schema-docs';
import { SECTION_STAGES } from './stages';
import { overrideProblem, overrideSite } from './variant-overrides';

export async function hover(doc: TextDocument, pos: Position, ctx: FeatureContext, token: CancellationToken): Promise<Hover | null> {
  const offset = offsetOf(doc, pos);
  const tree = ctx.analyzer.tree(doc);
  if (!tree) return null;
  const at = nodeAt(tree, offset);
  if (!at) return null;
  const range = { start: doc.positionAt(at.range[0]), end: doc.positionAt(at.range[1]) };
  const sections: string[] = [];
  const override = overridePath(at.path, at.onKey);
  if (override && 'problem' in override) return { contents: { kind: MarkupKind.Markdown, value: override.problem }, range };
  const schemaPath = override?.path ?? at.path;

  if (!at.onKey && isTermField(schemaPath) && isScalar(at.node)) {
    const term = String(at.node.value);
    const detail = await ctx.ontology.describe(term);
    throwIfCancelled(token);
    if (detail === undefined) sections.push(`_Ontology index is ${ctx.ontology.status.state}…_`);
    else if (detail === null) sections.push(`\`${term}\` is not a term of the loaded ontologies.`);
    else sections.push(termMarkdown(detail));
    return { contents: { kind: MarkupKind.Markdown, value: sections.join('\n\n---\n\n') }, range };
  }

  const node = schemaAt(schemaPath);
  if (!node) return null;
  sections.push(schemaMarkdown(node, schemaPath));
  if (!at.onKey && isScalar(at.node) && node.enum) sections.push(`Current value: \`${String(at.node.value)}\``);

  if (at.onKey && at.path.length === 1) {
    const key = String(at.path[0]);
    const analysis = await ctx.analyzer.analyze(doc);
    throwIfCancelled(token);
    if (key === 'model' || key === 'grpo') {
      const est = await memoryEstimateOf(analysis, ctx);
      if (est) sections.push(`**Memory estimate** ${formatEstimate(est)}`);
    }
    const stage = SECTION_STAGES[key];
    if (stage) {
      const last = await lastRunMarkdown(analysis, stage, ctx);
      if (last) sections.push(last);
    }
  }
  throwIfCancelled(token);
  return { contents: { kind: MarkupKind.Markdown, value: sections.join('\n\n---\n\n') }, range };
}

/**
 * The schema path a node inside a variant's `set:` or `grid:` documents: its dotted key's path (and what
 * lies below it), or why the key is no path a variant can override. Undefined outside override mappings.
 */
function overridePath(path: readonly PathSegment[], onKey: boolean): { path: PathSegment[] } | { problem: string } | undefined {
  const site = overrideSite(path);
  if (!site?.key) return undefined;
  const onOverrideKey = onKey && path.length === site.mapping.length + 1;
  const problem = overrideProblem(site.key);
  if (problem) return onOverrideKey ? { problem: [`**${site.key}** · not an override path`, '', problem.message, ...(problem.hint ? ['', problem.hint] : [])].join('\n') } : undefined;
  // a grid key's own value is the list of values; the key documents the path itself
  const target = onOverrideKey ? site.keyPath : site.target;
  return target ? { path: target } : undefined;
}

export function termMarkdown(t: TermDetail): string {
  const out = [`**${t.name}** \`${t.id}\`${t.namespace ? ` · ${t.namespace}` : ''}${t.isObsolete ? ' · _obsolete_' : ''}`];
  if (t.def) out.push('', t.def);
  if (t.synonyms.length) out.push('', `Synonyms: ${t.synonyms.map((s) => `${s.text} _(${s.scope.toLowerCase()})_`).join(', ')}`);
  if (t.parents.length) out.push('', `Is a: ${t.parents.map((p) => `${p.name ?? p.id} \`${p.id}\``).join(', ')}`);
  if (t.relations.length) out.push('', 'Relations:', ...t.relations.slice(0, 20).map((r) => `- ${r.relationName ?? r.relation} → ${r.targetName ?? r.target} \`${r.target}\``));
  out.push('', `_${path.basename(t.source)}_`);
  return out.join('\n');
}

async function lastRunMarkdown(a: Analysis, stage: string, ctx: FeatureContext): Promise<string | undefined> {
  if (!a.config) return undefined;
  const runsDir = path.resolve(path.dirname(a.file), a.config.output.runs_dir);
  const last = await ctx.runs.latest(runsDir, a.file, a.config.name);
  if (!last) return undefined;
  const st = last.state.stages[stage as keyof typeof last.state.stages];
  const out = [`**Last run** \`${last.runId}\` (${displayRunStatus(last.state)}) · ${stage}: ${st ? st.status : 'not run'}`];
  if (st?.summary) out.push('', formatSummary(st.summary));
  if (st?.message) out.push('', `_${st.message}_`);
  if (stage === 'evaluate') {
    const scores = await ctx.runs.report(last.runDir);
    if (scores) out.push('', formatScores(scores));
  }
  const metrics = await ctx.runs.stageMetrics(last.runDir, stage);
  if (metrics.length) {
    out.push('', '| metric | labels | last value | step |', '|---|---|---|---|');
    for (const m of metrics.slice(0, 30)) {
      const labels = Object.entries(m.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(', ');
      out.push(`| ${m.name} | ${labels} | ${formatNumber(m.value)} | ${m.step ?? ''} |`);
    }
  }
  return out.join('\n');
}
