/**
 * Markdown documentation of experiment-file keys, from schemas/experiment.schema.json (the single
 * source of truth): description, type, default, allowed values and examples.
 */
import type { PathSegment } from '../../engine/config/positions';
import { schemaAt, type SchemaNode } from '../../engine/config/schema-validator';

export { schemaAt };
export type { SchemaNode };

export function typeOf(node: SchemaNode): string {
  if (node.enum) return 'enum';
  if (Array.isArray(node.type)) return node.type.join(' | ');
  return node.type ?? (node.properties ? 'object' : node.items ? 'array' : 'value');
}

function yamlish(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** The markdown shown on hover and in completion documentation. */
export function schemaMarkdown(node: SchemaNode, path: readonly PathSegment[]): string {
  const key = path.filter((s): s is string => typeof s === 'string').join('.');
  const out: string[] = [`**${key || 'experiment'}** · \`${typeOf(node)}\``, '', node.markdownDescription ?? node.description ?? ''];
  const itemEnum = node.items?.enum;
  const values = node.enum ?? itemEnum;
  if (values) out.push('', `Values: ${values.map((v) => `\`${yamlish(v)}\``).join(', ')}`);
  if (node.default !== undefined && !(typeof node.default === 'object' && node.default !== null && !Array.isArray(node.default) && Object.keys(node.default).length === 0)) {
    out.push('', `Default: \`${yamlish(node.default)}\``);
  }
  const range: string[] = [];
  if (node.minimum !== undefined) range.push(`≥ ${node.minimum}`);
  if (node.exclusiveMinimum !== undefined) range.push(`> ${node.exclusiveMinimum}`);
  if (node.maximum !== undefined) range.push(`≤ ${node.maximum}`);
  if (range.length) out.push('', `Range: ${range.join(', ')}`);
  if (node.examples?.length) out.push('', `Examples: ${node.examples.map((e) => `\`${yamlish(e)}\``).join(', ')}`);
  return out.join('\n').trim();
}

/** The schema node for a path, or undefined when the path leaves the schema. */
export function nodeFor(path: readonly PathSegment[]): SchemaNode | undefined {
  return schemaAt(path);
}
