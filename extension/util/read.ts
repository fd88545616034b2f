/**
 * Defensive readers for JSON from a run's files (events, reports, datasets): a value of the wrong type
 * reads as undefined instead of throwing, so one odd field never hides the rest of a view. No vscode
 * import: the views' pure models and the webview bundle use them too.
 */
export type Obj = Record<string, unknown>;

/** A plain object (not null, not an array). */
export const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);

export const asObj = (v: unknown): Obj | undefined => (isObj(v) ? v : undefined);

/** A finite number. */
export const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

export const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** A string with at least one character. */
export const nonEmptyStr = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);
