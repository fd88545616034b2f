/**
 * JSON Schema 2020-12 validation of experiment files with ajv. Two validators: a strict one that
 * reports every error (for diagnostics) and one that fills `default`s (to resolve a fully explicit config).
 * They are compiled ahead of time (`npm run gen` writes ajv standalone code to schemas/generated/, and
 * CI fails when it is stale): compiling at start-up took ~170 ms of the language server's start to its
 * first diagnostics. Their options live in ajv-options.ts.
 */
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020';
import { createAjv } from './ajv-options';
import experimentSchema from '../../schemas/experiment.schema.json';
import type { Experiment, ExperimentInput } from '../../schemas/generated/experiment';
import { validate as fillDefaults } from '../../schemas/generated/experiment-validate-defaults';
import { validate as validateStrict } from '../../schemas/generated/experiment-validate-strict';

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

/** Compiles the validators from the schema now, instead of using the generated ones (tests compare the two). */
export function compileValidators(): { validate: ValidateFunction; fill: ValidateFunction } {
  return { validate: createAjv('strict').compile(EXPERIMENT_SCHEMA), fill: createAjv('defaults').compile(EXPERIMENT_SCHEMA) };
}

export function createConfigValidator(fns: { validate: ValidateFunction; fill: ValidateFunction } = { validate: validateStrict, fill: fillDefaults }): ConfigValidator {
  const { validate, fill } = fns;
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

/** The experiment with nothing set but its name: every section at its schema default. */
export function defaultExperiment(): Experiment {
  return createConfigValidator().resolveDefaults({ name: 'defaults' });
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
