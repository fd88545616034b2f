/**
 * JSON Schema 2020-12 validation of experiment files with ajv. Two compiled validators: a strict one that
 * reports every error (for diagnostics) and one that fills `default`s (to resolve a fully explicit config).
 * Compiling takes tens of milliseconds: long-lived callers (the language server) create one
 * ConfigValidator and reuse it; the CLI creates one per process.
 */
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import experimentSchema from '../../schemas/experiment.schema.json';
import type { Experiment, ExperimentInput } from '../../schemas/generated/experiment';

export type SchemaNode = {
  type?: string | string[];
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  enum?: unknown[];
  default?: unknown;
  description?: string;
  markdownDescription?: string;
  examples?: unknown[];
  additionalProperties?: boolean | SchemaNode;
  required?: string[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  pattern?: string;
  [k: string]: unknown;
};

export const EXPERIMENT_SCHEMA = experimentSchema as unknown as SchemaNode;

export interface ConfigValidator {
  /** Every schema error of a raw config (no defaults applied, input untouched). */
  errors(raw: unknown): ErrorObject[];
  /** A deep copy of a valid raw config with every default filled in. */
  resolveDefaults(raw: ExperimentInput): Experiment;
}

export function createConfigValidator(): ConfigValidator {
  // strict: false because `markdownDescription` is an editor extension keyword, not JSON Schema
  // code.optimize off: compiling twice as fast matters more (language-server start to first diagnostics)
  // than the microseconds validating one small config costs either way
  const strictAjv = new Ajv2020({ allErrors: true, verbose: true, strict: false, validateFormats: false, code: { optimize: false } });
  const defaultsAjv = new Ajv2020({ allErrors: false, useDefaults: true, strict: false, validateFormats: false, code: { optimize: false } });
  const validate: ValidateFunction = strictAjv.compile(EXPERIMENT_SCHEMA);
  const fill: ValidateFunction = defaultsAjv.compile(EXPERIMENT_SCHEMA);
  return {
    errors(raw) {
      return validate(raw) ? [] : [...(validate.errors ?? [])];
    },
    resolveDefaults(raw) {
      const copy = structuredClone(raw) as unknown as Experiment;
      fill(copy);
      return copy;
    },
  };
}

/** The schema node that describes the value at `path` (following properties and items), if any. */
export function schemaAt(path: readonly (string | number)[], root: SchemaNode = EXPERIMENT_SCHEMA): SchemaNode | undefined {
  let node: SchemaNode | undefined = root;
  for (const seg of path) {
    if (!node) return undefined;
    if (typeof seg === 'number') node = node.items;
    else node = node.properties?.[seg];
  }
  return node;
}
