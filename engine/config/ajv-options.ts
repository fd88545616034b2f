/**
 * The ajv options of the experiment validators, in one place: scripts/gen-schema-types.ts compiles them
 * to standalone code with these, and schema-validator.ts compiles with these when asked to (tests).
 * This module imports nothing generated, so the generator can run before the generated files exist.
 */
import Ajv2020 from 'ajv/dist/2020';

/**
 * The ajv instance behind each validator: `strict` reports every error with the failing schema and data
 * (diagnostics), `defaults` stops at the first error and fills `default`s. `strict: false` because
 * `markdownDescription` is an editor keyword, not JSON Schema. `source` keeps the generated code, for
 * the standalone files.
 */
export function createAjv(kind: 'strict' | 'defaults', code: { source?: boolean } = {}): Ajv2020 {
  const common = { strict: false, validateFormats: false, code: { ...code, lines: true } } as const;
  return kind === 'strict' ? new Ajv2020({ ...common, allErrors: true, verbose: true }) : new Ajv2020({ ...common, allErrors: false, useDefaults: true });
}
