/**
 * Overrides in a `variants:` block. The keys of a variant's `set:` and of `grid:` are dotted paths into the
 * experiment (`sft.projection`, `grpo.capability_weights.domain`), so completion and hover map a cursor
 * path inside them to the schema path the override points at, then document and complete it like the key
 * written in place. Which paths a variant may override is the engine's rule (`checkOverridePath`), so the
 * editor never offers a path the run would reject.
 */
import type { PathSegment } from '../../engine/config/positions';
import { checkOverridePath, splitPath } from '../../engine/config/variants';
import { schemaAt, type SchemaNode } from './schema-docs';

export interface OverrideSite {
  /** `set`: dotted path → value; `grid`: dotted path → list of values. */
  form: 'set' | 'grid';
  /** Path of the `set:` or `grid:` mapping itself. */
  mapping: PathSegment[];
  /** The dotted key the cursor is under; absent at the mapping itself. */
  key?: string;
  /** The key's own schema path (`sft.projection` → ['sft', 'projection']). */
  keyPath?: PathSegment[];
  /**
   * Schema path of the value at the cursor: the key's segments, then whatever lies below the override's
   * value. Absent at the mapping itself and at a grid key's own value (a list of values, not a value).
   */
  target?: PathSegment[];
}

/** Where `path` (a cursor or node path) sits in an override mapping, if it does. */
export function overrideSite(path: readonly PathSegment[]): OverrideSite | undefined {
  if (path[0] !== 'variants') return undefined;
  // variants: [{ set }] | variants: { list: [{ set }], grid }
  const depth = typeof path[1] === 'number' && path[2] === 'set' ? 3 : path[1] === 'list' && typeof path[2] === 'number' && path[3] === 'set' ? 4 : path[1] === 'grid' ? 2 : 0;
  if (!depth) return undefined;
  const form: OverrideSite['form'] = depth === 2 ? 'grid' : 'set';
  const mapping = path.slice(0, depth);
  const rest = path.slice(depth);
  const key = rest[0];
  if (key === undefined) return { form, mapping };
  if (typeof key !== 'string') return undefined; // a list where a mapping belongs: nothing to map
  const keyPath: PathSegment[] = splitPath(key);
  if (form === 'set') return { form, mapping, key, keyPath, target: [...keyPath, ...rest.slice(1)] };
  // grid: the key's value lists the values; each item is one value of the path
  return { form, mapping, key, keyPath, ...(typeof rest[1] === 'number' ? { target: [...keyPath, ...rest.slice(2)] } : {}) };
}

export interface OverrideCandidate {
  /** The dotted path (`sft.projection`); a section ends in a dot (`sft.`). */
  path: string;
  node: SchemaNode;
  /** A section prefix to continue typing below, not a path to override. */
  section: boolean;
}

/** Whether `dotted` may be overridden by a variant (the engine's rule: a known path that is not fixed). */
export function isOverridable(dotted: string): boolean {
  return checkOverridePath(dotted).ok;
}

/** Why a variant cannot override `dotted` (unknown or fixed path, with the engine's hint); undefined if it can. */
export function overrideProblem(dotted: string): { message: string; hint?: string } | undefined {
  const check = checkOverridePath(dotted);
  return check.ok ? undefined : { message: check.message, ...(check.hint ? { hint: check.hint } : {}) };
}

/**
 * The paths one level below what `typed` has completed so far: `sft.pro` → every overridable key of `sft`
 * (`sft.projection`, `sft.steps`, …), and `sft.` style sections for keys with keys of their own. A
 * mapping-valued key is offered both ways: as a whole (one override replaces the mapping) and as a section.
 */
export function overrideCandidates(typed: string): OverrideCandidate[] {
  const dot = typed.lastIndexOf('.');
  const head = dot >= 0 ? typed.slice(0, dot) : '';
  const parent = schemaAt(head ? splitPath(head) : []);
  if (!parent) return [];
  const out: OverrideCandidate[] = [];
  for (const [key, node] of Object.entries(parent.properties ?? {})) {
    const path = head ? `${head}.${key}` : key;
    if (!isOverridable(path)) continue;
    if (Object.keys(node.properties ?? {}).some((k) => isOverridable(`${path}.${k}`))) out.push({ path: `${path}.`, node, section: true });
    out.push({ path, node, section: false });
  }
  return out;
}
